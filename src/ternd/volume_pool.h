/* ternd's storage pool: one directory of raw disk images, each file named
 * as its volume (POOL/NAME). The catalog (ternd_db.h) says which volumes
 * exist; this module does the file work, in steps that a ternd killed at
 * any moment can finish or undo from the catalog alone:
 *
 *   create, clone:  write POOL/.NAME.new, fsync; [catalog commit];
 *                   rename .NAME.new -> NAME
 *   delete:         rename NAME -> .NAME.del; [catalog commit];
 *                   unlink .NAME.del
 *
 * A file whose name starts with '.' is never a volume (volume names start
 * with a letter or a digit), so a pending file can never be taken for one.
 * volume_pool_recover(), run when ternd starts, finishes each pending
 * file as the catalog says: the volume is in the catalog and its file is
 * missing -> the pending file becomes the volume (a create committed, a
 * delete rolled back); otherwise it goes. So a kill -9 in the middle of a
 * create leaves either the whole volume or nothing, never half a file
 * under a volume's name. */
#ifndef TERN_TERND_VOLUME_POOL_H
#define TERN_TERND_VOLUME_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Sizes are whole 512-byte sectors (what a virtio-blk disk is made of),
 * at least one, at most VOLUME_MAX_SIZE. */
#define VOLUME_SECTOR 512
#define VOLUME_MAX_SIZE (1ULL << 50) /* 1 PiB */

struct volume_pool {
	char dir[4096]; /* absolute */
};

enum volume_clone_method {
	VOLUME_CLONE_REFLINK, /* FICLONE: blocks shared until written */
	VOLUME_CLONE_COPY, /* a sparse copy: the data, not the holes */
};

/* Creates the directory (0700) if missing; dir is made absolute. */
int volume_pool_open(struct volume_pool *pool, const char *dir,
		     struct tern_error *err);
/* POOL/NAME; -ENAMETOOLONG if it does not fit. */
int volume_pool_path(const struct volume_pool *pool, const char *name,
		     char *buf, size_t size);
/* 0 when size is a usable volume size, else -EINVAL saying why. */
int volume_size_check(uint64_t size, struct tern_error *err);

/* The file's size and the bytes it takes on disk; -ENOENT if missing. */
int volume_pool_stat(const struct volume_pool *pool, const char *name,
		     uint64_t *capacity, uint64_t *allocation);

/* A sparse file of size bytes as .NAME.new. */
int volume_pool_create_pending(const struct volume_pool *pool, const char *name,
			       uint64_t size, struct tern_error *err);
/* A copy of the volume src as .NAME.new: reflinked where the file system
 * can (FICLONE), else copied with its holes kept (SEEK_DATA/SEEK_HOLE). */
int volume_pool_clone_pending(const struct volume_pool *pool, const char *src,
			      const char *name, enum volume_clone_method *how,
			      struct tern_error *err);
/* .NAME.new -> NAME (never over an existing file). */
int volume_pool_commit_new(const struct volume_pool *pool, const char *name,
			   struct tern_error *err);
void volume_pool_discard_new(const struct volume_pool *pool, const char *name);

/* NAME -> .NAME.del; a missing NAME is not an error (the catalog may
 * name a file someone removed). */
int volume_pool_delete_pending(const struct volume_pool *pool, const char *name,
			       struct tern_error *err);
/* .NAME.del -> NAME: the delete was refused. */
void volume_pool_undo_delete(const struct volume_pool *pool, const char *name);
void volume_pool_finish_delete(const struct volume_pool *pool,
			       const char *name);

/* Sets the volume's size (the file's length: growing adds a hole). */
int volume_pool_resize(const struct volume_pool *pool, const char *name,
		       uint64_t size, struct tern_error *err);

/* Finishes every pending file as in_catalog says (see the top); calls
 * report for each one it finished, with what it did. */
void volume_pool_recover(const struct volume_pool *pool,
			 int (*in_catalog)(void *ctx, const char *name),
			 void (*report)(void *ctx, const char *file,
					const char *what),
			 void *ctx);

#endif
