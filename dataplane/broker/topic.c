/* SPDX-License-Identifier: MIT */
/*
 * Topic matching trie (see topic.h). Each node has its literal-word edges in an
 * array sorted by (length, bytes) for binary search, plus separate '*' and '#'
 * children, and the destinations of the patterns that end there.
 *
 * Matching walks the key's words through the trie. A '#' node may swallow any
 * number of words, so it is tried at every later position; to keep patterns
 * such as "#.a.#.a.#" from exploding, each '#' node is expanded at most once
 * per match from the lowest position it is reached at (reaching it later adds
 * nothing), remembered in a small on-stack table.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dest_set.h"
#include "topic.h"

#define MAX_WORDS (LP_TOPIC_KEY_MAX + 1) /* 255 dots make 256 empty words */
#define HASH_MEMO_SIZE 64

struct topic_node;

struct topic_edge {
	char *word;
	uint8_t len;
	struct topic_node *child;
};

struct topic_node {
	struct topic_edge *edges;
	uint32_t n_edges, cap_edges;
	struct topic_node *star;
	struct topic_node *hash;
	uint32_t *dests;
	uint32_t n_dests, cap_dests;
};

struct lp_topic_trie {
	struct topic_node root;
	size_t n_bindings;
};

struct word {
	const char *p;
	uint8_t len;
};

/* RabbitMQ's split_topic_key: "" has no words; every '.' ends one. */
static int split_words(const char *s, size_t len, struct word *w)
{
	int n = 0;
	size_t start = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			w[n].p = s + start;
			w[n].len = (uint8_t)(i - start);
			n++;
			start = i + 1;
		}
	}
	return n;
}

static int word_cmp(const struct topic_edge *e, const struct word *w)
{
	if (e->len != w->len)
		return e->len < w->len ? -1 : 1;
	return memcmp(e->word, w->p, w->len);
}

/* Index of the edge for w, or -(insertion point) - 1. */
static long edge_find(const struct topic_node *n, const struct word *w)
{
	long lo = 0, hi = (long)n->n_edges - 1;

	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		int c = word_cmp(&n->edges[mid], w);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

static bool is_word(const struct word *w, char c)
{
	return w->len == 1 && w->p[0] == c;
}

static struct topic_node *child_get(struct topic_node *n, const struct word *w, bool create)
{
	struct topic_node **special = is_word(w, '*') ? &n->star : is_word(w, '#') ? &n->hash : NULL;

	if (special != NULL) {
		if (*special == NULL && create)
			*special = calloc(1, sizeof(**special));
		return *special;
	}
	long i = edge_find(n, w);

	if (i >= 0)
		return n->edges[i].child;
	if (!create)
		return NULL;
	i = -i - 1;
	if (n->n_edges == n->cap_edges) {
		uint32_t cap = n->cap_edges ? n->cap_edges * 2 : 4;
		struct topic_edge *e = realloc(n->edges, cap * sizeof(*e));

		if (e == NULL)
			return NULL;
		n->edges = e;
		n->cap_edges = cap;
	}
	struct topic_node *child = calloc(1, sizeof(*child));
	char *word = malloc(w->len + 1);

	if (child == NULL || word == NULL) {
		free(child);
		free(word);
		return NULL;
	}
	memcpy(word, w->p, w->len);
	word[w->len] = '\0';
	memmove(&n->edges[i + 1], &n->edges[i], (n->n_edges - i) * sizeof(n->edges[0]));
	n->edges[i] = (struct topic_edge){.word = word, .len = w->len, .child = child};
	n->n_edges++;
	return child;
}

/* Pattern words with runs of '#' collapsed ("#.#" matches what "#" does). */
static int split_pattern(const char *s, size_t len, struct word *w)
{
	int n = split_words(s, len, w), out = 0;

	for (int i = 0; i < n; i++) {
		if (is_word(&w[i], '#') && out > 0 && is_word(&w[out - 1], '#'))
			continue;
		w[out++] = w[i];
	}
	return out;
}

struct lp_topic_trie *lp_topic_trie_create(void)
{
	return calloc(1, sizeof(struct lp_topic_trie));
}

static void node_free(struct topic_node *n)
{
	if (n == NULL)
		return;
	for (uint32_t i = 0; i < n->n_edges; i++) {
		node_free(n->edges[i].child);
		free(n->edges[i].child);
		free(n->edges[i].word);
	}
	free(n->edges);
	node_free(n->star);
	free(n->star);
	node_free(n->hash);
	free(n->hash);
	free(n->dests);
}

void lp_topic_trie_destroy(struct lp_topic_trie *t)
{
	if (t == NULL)
		return;
	node_free(&t->root);
	free(t);
}

int lp_topic_trie_add(struct lp_topic_trie *t, const char *pattern, size_t len, uint32_t dest)
{
	struct word w[MAX_WORDS];
	struct topic_node *n = &t->root;

	if (len > LP_TOPIC_KEY_MAX)
		return -EINVAL;
	int nw = split_pattern(pattern, len, w);

	for (int i = 0; i < nw; i++) {
		n = child_get(n, &w[i], true);
		if (n == NULL)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < n->n_dests; i++)
		if (n->dests[i] == dest)
			return 0;
	if (n->n_dests == n->cap_dests) {
		uint32_t cap = n->cap_dests ? n->cap_dests * 2 : 2;
		uint32_t *d = realloc(n->dests, cap * sizeof(*d));

		if (d == NULL)
			return -ENOMEM;
		n->dests = d;
		n->cap_dests = cap;
	}
	n->dests[n->n_dests++] = dest;
	t->n_bindings++;
	return 0;
}

int lp_topic_trie_remove(struct lp_topic_trie *t, const char *pattern, size_t len, uint32_t dest)
{
	struct word w[MAX_WORDS];
	struct topic_node *n = &t->root;

	if (len > LP_TOPIC_KEY_MAX)
		return -ENOENT;
	int nw = split_pattern(pattern, len, w);

	for (int i = 0; i < nw && n != NULL; i++)
		n = child_get(n, &w[i], false);
	if (n == NULL)
		return -ENOENT;
	for (uint32_t i = 0; i < n->n_dests; i++) {
		if (n->dests[i] == dest) {
			n->dests[i] = n->dests[--n->n_dests];
			t->n_bindings--;
			return 0;
		}
	}
	/* Empty nodes stay until the trie is rebuilt or destroyed: harmless. */
	return -ENOENT;
}

size_t lp_topic_trie_count(const struct lp_topic_trie *t)
{
	return t->n_bindings;
}

struct match_ctx {
	const struct word *words;
	int n_words;
	struct lp_dest_set out;
	/* '#' nodes already expanded, with the lowest position they were at. */
	const struct topic_node *memo_node[HASH_MEMO_SIZE];
	int memo_pos[HASH_MEMO_SIZE];
	unsigned n_memo;
};

/* True when hash node h was already expanded from a position <= pos. */
static bool hash_seen(struct match_ctx *c, const struct topic_node *h, int pos)
{
	for (unsigned i = 0; i < c->n_memo; i++) {
		if (c->memo_node[i] == h) {
			if (c->memo_pos[i] <= pos)
				return true;
			c->memo_pos[i] = pos;
			return false;
		}
	}
	if (c->n_memo < HASH_MEMO_SIZE) {
		c->memo_node[c->n_memo] = h;
		c->memo_pos[c->n_memo++] = pos;
	}
	return false;
}

static void match_node(struct match_ctx *c, const struct topic_node *n, int pos)
{
	if (n->hash != NULL && !hash_seen(c, n->hash, pos))
		for (int j = pos; j <= c->n_words; j++)
			match_node(c, n->hash, j);
	if (pos == c->n_words) {
		for (uint32_t i = 0; i < n->n_dests; i++)
			lp_dest_set_add(&c->out, n->dests[i]);
		return;
	}
	long e = edge_find(n, &c->words[pos]);

	if (e >= 0)
		match_node(c, n->edges[e].child, pos + 1);
	if (n->star != NULL)
		match_node(c, n->star, pos + 1);
}

int lp_topic_trie_match(const struct lp_topic_trie *t, const char *key, size_t len,
			uint32_t *dests, unsigned max)
{
	struct word w[MAX_WORDS];
	struct match_ctx c;

	if (len > LP_TOPIC_KEY_MAX)
		return -EINVAL;
	c.words = w;
	c.n_words = split_words(key, len, w);
	lp_dest_set_init(&c.out, dests, max);
	c.n_memo = 0;
	match_node(&c, &t->root, 0);
	return lp_dest_set_count(&c.out);
}
