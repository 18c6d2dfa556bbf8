/* SPDX-License-Identifier: MIT */
/*
 * Topic exchange matching with RabbitMQ's semantics: routing keys and binding
 * patterns are words separated by '.', '*' matches exactly one word, '#' zero
 * or more words; the empty key has no words ("a." has two: "a" and "").
 *
 * A trie of pattern words, built on the main lcore while it prepares the next
 * topology snapshot (it allocates), then read-only: workers match against it
 * without locks or allocation. Each binding carries an opaque 32-bit
 * destination (a queue or exchange index in the snapshot).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LP_TOPIC_KEY_MAX 255   /* AMQP shortstr */

struct lp_topic_trie;

/* A new empty trie, or NULL (ENOMEM). */
struct lp_topic_trie *lp_topic_trie_create(void);

/* Free the trie and everything in it. NULL is a no-op. */
void lp_topic_trie_destroy(struct lp_topic_trie *t);

/*
 * Bind pattern (len bytes, not NUL-terminated) to dest. Binding the same
 * (pattern, dest) twice keeps one binding. Returns 0, -EINVAL (longer than
 * LP_TOPIC_KEY_MAX) or -ENOMEM.
 */
int lp_topic_trie_add(struct lp_topic_trie *t, const char *pattern, size_t len, uint32_t dest);

/* Remove the binding (pattern, dest). Returns 0 or -ENOENT. */
int lp_topic_trie_remove(struct lp_topic_trie *t, const char *pattern, size_t len, uint32_t dest);

/* Number of bindings in the trie. */
size_t lp_topic_trie_count(const struct lp_topic_trie *t);

/*
 * Find every destination whose pattern matches key. Writes at most max of
 * them to dests, each once, in ascending order. Returns how many matched
 * (which may exceed max: the caller sees truncation), or -EINVAL for a key
 * longer than LP_TOPIC_KEY_MAX. No allocation.
 */
int lp_topic_trie_match(const struct lp_topic_trie *t, const char *key, size_t len,
			uint32_t *dests, unsigned max);
