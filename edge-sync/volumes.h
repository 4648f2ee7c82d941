/* edge-sync volumes: the files behind an app's volumes on the node, and the Docker bind strings
 * that mount them into a container.
 *
 * Layout under edge-sync's data folder (beside the LMDB files):
 *   volumes/{ns}/{app}/{volume}/{file}   config, secret and certificate volumes: the files of
 *                                        spec.resolved.configs[name], written atomically; a file
 *                                        name with folders ("lib/util.py") is written below
 *                                        folders of its own, made 0755 like {volume}
 *   pods/{ns}/{app}/{replica}/{volume}/  emptyDir volumes: created with the pod, removed with it
 *   subpaths/{ns}/{app}/{replica}/{container}/{index}
 *                                        the subPath of volumeMounts[index] of an emptyDir or
 *                                        hostPath volume, bind-mounted here by edge-sync; the
 *                                        engine mounts this path (see ferry_volumes_binds).
 *                                        Unmounted and removed with the pod
 * hostPath volumes are the host's own paths, mounted as they are (never created).
 *
 * Modes: volumes/, pods/, subpaths/ and every folder down to {app}, {replica} and {container}
 * are 0700, so nothing below is reachable by other users of the host. The folder of a config volume
 * itself is 0755 and an emptyDir 0777 (as in Kubernetes), so that a container running as a non-root
 * user can read its config files and write its scratch space; files get the mode the bridge
 * resolved (0600 for secrets and keys, 0644 otherwise).
 *
 * Blocking file I/O: call from the reconciler's thread, never from the event loop. Functions that
 * take err/errlen write a message a person can act on there when they fail. */
#ifndef FERRY_EDGE_VOLUMES_H
#define FERRY_EDGE_VOLUMES_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"

#define FERRY_VOLUMES_DIR "volumes"   /* {data}/volumes: config, secret, certificate volumes */
#define FERRY_PODS_DIR "pods"         /* {data}/pods: emptyDir volumes */
#define FERRY_SUBPATHS_DIR "subpaths" /* {data}/subpaths: subPath mounts of emptyDir, hostPath */

/* Whose files. Strings are borrowed; ns and app must be DNS labels (FERRY_EINVAL otherwise). */
typedef struct {
    const char *data_dir; /* edge-sync's --data folder */
    const char *ns;
    const char *app;
} ferry_volumes_ref;

/* The volume kind of a volume object: "hostPath", "emptyDir", "config", "secret", "certificate",
 * or NULL when it has none of them. Static string. */
const char *ferry_volumes_kind(const json_t *volume);

/* The volume of spec named name (borrowed), or NULL. */
const json_t *ferry_volumes_find(const json_t *spec, const char *name);

/* true when the kind is one whose files edge-sync writes (config, secret, certificate). */
bool ferry_volumes_kind_has_files(const char *kind);

/* Make the app's volumes ready before any of its containers is created or started: write every
 * config/secret/certificate volume's files (a file is replaced, atomically, only when its content
 * or mode changed; files and folders the config no longer has are removed) and check that every
 * hostPath exists. The folders of a file are opened one by one from the volume's folder without
 * following a symbolic link (a link, or a file, in the way is removed and a folder made), and
 * removal never follows one either; every folder that changed is flushed (fsync). Idempotent; cheap
 * when nothing changed. FERRY_ENOTFOUND for a missing host path or resolved config, FERRY_EINVAL
 * for a spec it cannot honour, FERRY_EIO for a file system error. */
ferry_err ferry_volumes_sync(const ferry_volumes_ref *ref, const json_t *spec, char *err,
                             size_t errlen);

/* Create the emptyDir folders of one pod (replica). fresh: a new pod is being created, so start
 * from empty folders (whatever an earlier pod of that replica left is removed, its subPath
 * mounts included, as by ferry_volumes_pod_remove). */
ferry_err ferry_volumes_pod_prepare(const ferry_volumes_ref *ref, int replica, const json_t *spec,
                                    bool fresh, char *err, size_t errlen);

/* Remove the files of one pod (replica >= 0) or of every pod of the app (replica < 0): its
 * subPath mounts are unmounted and their folder under subpaths/ removed, then its emptyDirs.
 * Works the same on what a killed edge-sync left (the mounts outlive the process). A missing
 * folder counts as removed. FERRY_EIO when something stayed (logged; the cleanup retries). */
ferry_err ferry_volumes_pod_remove(const ferry_volumes_ref *ref, int replica);

/* Remove {data}/volumes/{ns}/{app}/ (every config volume of the app). */
ferry_err ferry_volumes_app_remove(const ferry_volumes_ref *ref);

/* The Docker binds of one container (a service or init object of spec) in pod `replica`: *binds
 * is a new array (caller owns) of "HOST:CONTAINER" strings, ":ro" appended for readOnly mounts
 * and always for config/secret/certificate volumes (their files belong to edge-sync), in the
 * order of volumeMounts; an empty array when the container mounts nothing. Call after
 * ferry_volumes_sync and ferry_volumes_pod_prepare.
 *
 * subPath mounts one file or folder of the volume: for config volumes the file of that name,
 * folders included ("lib/util.py"; it must exist; bound by its path: the folder is edge-sync's
 * and read-only in containers); for
 * emptyDir and hostPath volumes a path inside the volume, created as a folder when missing (as
 * Kubernetes does). The path is resolved on the host and must stay inside the volume: ".." and
 * symbolic links that lead outside are refused; links that stay inside are followed.
 *
 * A check alone would not hold for emptyDir and hostPath subPaths: the engine resolves a bind's
 * host path again at every (re)start of the container, and a container can swap a folder of its
 * emptyDir for a symbolic link after the check (CVE-2021-25741). So, as Kubernetes does, the
 * resolved path is opened from the volume's folder without following any symbolic link
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; a component-by-component O_NOFOLLOW walk on
 * kernels before 5.6), only a folder or regular file is accepted, and the open file is
 * bind-mounted (/proc/self/fd/N) at {data}/subpaths/{ns}/{app}/{replica}/{container}/{index}:
 * that path, which only edge-sync writes, is the host side of the bind string and keeps showing
 * the checked folder whatever happens in the volume later. A place that already shows it is left
 * as it is; one that shows something else (an earlier spec) is mounted again. This needs
 * edge-sync to be allowed to mount (root, in the engine's mount namespace): where it is not, the
 * mount fails (FERRY_EIO) with a message saying so, and nothing unsafe is mounted instead. A
 * later call that finds the subPath changed into a link refuses it and leaves the mount as it
 * was. The mounts stay until ferry_volumes_pod_remove (or the cleanup) removes the pod. */
ferry_err ferry_volumes_binds(const ferry_volumes_ref *ref, int replica, const json_t *spec,
                              const json_t *container, json_t **binds, char *err, size_t errlen);

/* Paths: {data}/volumes/{ns}/{app}[/{volume}] and {data}/pods/{ns}/{app}[/{replica}] (volume
 * NULL or replica < 0: the app's folder). FERRY_ETOOBIG when it does not fit len. */
ferry_err ferry_volumes_path(const ferry_volumes_ref *ref, const char *volume, char *buf,
                             size_t len);
ferry_err ferry_volumes_pod_path(const ferry_volumes_ref *ref, int replica, char *buf, size_t len);

/* ---- internal, shared with cleanup.c ------------------------------------------------------- */

/* Remove path and everything below it without following symbolic links; whatever is mounted at
 * or below path is unmounted first (lazily, MNT_DETACH), so a removal never reaches into a
 * mounted folder. A missing path counts as removed. FERRY_EIO (logged) when something could not
 * be unmounted (then nothing is removed) or removed. */
ferry_err ferry_volumes__remove_tree(const char *path);

/* true when path is root or lies below it (plain string comparison of clean absolute paths). */
bool ferry_volumes__path_inside(const char *path, const char *root);

#endif
