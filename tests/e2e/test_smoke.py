"""Smoke test of the test services themselves: the engine answers and holds the test image; the
broker takes and delivers a message (raw bytes, retained flag, clean-up of retained messages)."""
import harness


def test_engine_answers_and_holds_the_test_image(t):
    assert t.engine.ping(), f"engine at {t.engine_sock} does not answer /_ping"
    version = t.engine.version()
    print(f"engine: {'podman' if t.engine.is_podman() else 'docker'} {version.get('Version')}")
    assert t.engine.image_present("ferry-test/busybox:1"), \
        "ferry-test/busybox:1 missing (scripts/images.sh SOCKET)"
    t.engine.containers({"io.ferry.managed": "1"})  # the label filter is accepted


def test_broker_delivers_raw_bytes_and_retained_messages_clear(t):
    topic = f"ferry-smoke/{t.engine_name}/raw"
    payload = bytes(range(256))  # every byte value, NUL and newline included
    cap = t.capture(topic)
    harness.mqtt_publish(t.mqtt_port, topic, payload, retain=True)
    _, got, _ = cap.wait_for(lambda tp, p, r: tp == topic, 10, f"a message on {topic}")
    assert got == payload, f"payload changed in transit: {got!r}"

    assert harness.clear_retained(t.mqtt_port, topic) == 1, "the retained message was not seen"
    assert harness.clear_retained(t.mqtt_port, topic) == 0, "the retained message survived"
