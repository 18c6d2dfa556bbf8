/* SPDX-License-Identifier: MIT */
/*
 * Topic matching (dataplane/broker/topic.c) against RabbitMQ's semantics:
 * the cases of RabbitMQ's tutorial 5 and of its topic-matching unit test
 * table, edge cases of empty words, and a randomized comparison with a
 * direct word-by-word reference matcher. Run under ASan: no leaks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topic.h"

static int match_str(struct lp_topic_trie *t, const char *key, uint32_t *out, unsigned max)
{
	return lp_topic_trie_match(t, key, strlen(key), out, max);
}

static void add(struct lp_topic_trie *t, const char *pattern, uint32_t dest)
{
	assert_int_equal(lp_topic_trie_add(t, pattern, strlen(pattern), dest), 0);
}

/* Assert key matches exactly the destinations listed (ascending, 0-terminated). */
static void expect(struct lp_topic_trie *t, const char *key, const uint32_t *want)
{
	uint32_t got[64];
	unsigned n_want = 0;
	int n = match_str(t, key, got, 64);

	while (want[n_want] != 0)
		n_want++;
	if ((unsigned)n != n_want || memcmp(got, want, n_want * sizeof(*want)) != 0) {
		print_error("key '%s': got", key);
		for (int i = 0; i < n; i++)
			print_error(" t%u", got[i]);
		print_error(", want");
		for (unsigned i = 0; i < n_want; i++)
			print_error(" t%u", want[i]);
		print_error("\n");
		fail();
	}
}

static void tutorial_five(void **state)
{
	struct lp_topic_trie *t = lp_topic_trie_create();
	(void)state;
	add(t, "*.orange.*", 1);   /* Q1 */
	add(t, "*.*.rabbit", 2);   /* Q2 */
	add(t, "lazy.#", 2);       /* Q2 again: delivered once */
	expect(t, "quick.orange.rabbit", (uint32_t[]){1, 2, 0});
	expect(t, "lazy.orange.elephant", (uint32_t[]){1, 2, 0});
	expect(t, "quick.orange.fox", (uint32_t[]){1, 0});
	expect(t, "lazy.brown.fox", (uint32_t[]){2, 0});
	expect(t, "lazy.pink.rabbit", (uint32_t[]){2, 0});
	expect(t, "quick.brown.fox", (uint32_t[]){0});
	expect(t, "orange", (uint32_t[]){0});
	expect(t, "quick.orange.new.rabbit", (uint32_t[]){0});
	expect(t, "lazy.orange.new.rabbit", (uint32_t[]){2, 0});
	lp_topic_trie_destroy(t);
}

static void rabbitmq_matching_table(void **state)
{
	static const char *const patterns[] = {
		NULL, "a.b.c", "a.*.c", "a.#.b", "a.b.b.c", "#", "#.#", "#.b", "*.*", "a.*",
		"*.b.c", "a.#", "a.#.#", "b.b.c", "a.b.b", "a.b", "b.c", "", "*.*.*",
		"vodka.martini", "a.b.c", "*.#", "#.*.#", "*.#.#", "#.#.#", "*", "#.b.#",
		"args-test",
	};
	struct lp_topic_trie *t = lp_topic_trie_create();
	(void)state;
	for (uint32_t i = 1; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		add(t, patterns[i], i);
	expect(t, "a.b.c", (uint32_t[]){1, 2, 5, 6, 10, 11, 12, 18, 20, 21, 22, 23, 24, 26, 0});
	expect(t, "a.b", (uint32_t[]){3, 5, 6, 7, 8, 9, 11, 12, 15, 21, 22, 23, 24, 26, 0});
	expect(t, "a.b.b", (uint32_t[]){3, 5, 6, 7, 11, 12, 14, 18, 21, 22, 23, 24, 26, 0});
	expect(t, "", (uint32_t[]){5, 6, 17, 24, 0});
	expect(t, "b.c.c", (uint32_t[]){5, 6, 18, 21, 22, 23, 24, 26, 0});
	expect(t, "a.a.a.a.a", (uint32_t[]){5, 6, 11, 12, 21, 22, 23, 24, 0});
	expect(t, "vodka.gin", (uint32_t[]){5, 6, 8, 21, 22, 23, 24, 0});
	expect(t, "vodka.martini", (uint32_t[]){5, 6, 8, 19, 21, 22, 23, 24, 0});
	expect(t, "b.b.c", (uint32_t[]){5, 6, 10, 13, 18, 21, 22, 23, 24, 26, 0});
	expect(t, "nothing.here.at.all", (uint32_t[]){5, 6, 21, 22, 23, 24, 0});
	expect(t, "oneword", (uint32_t[]){5, 6, 21, 22, 23, 24, 25, 0});
	expect(t, "args-test", (uint32_t[]){5, 6, 21, 22, 23, 24, 25, 27, 0});
	assert_int_equal(lp_topic_trie_count(t), 27);
	lp_topic_trie_destroy(t);
}

static void empty_words_are_words(void **state)
{
	struct lp_topic_trie *t = lp_topic_trie_create();
	(void)state;
	add(t, "a.", 1);   /* "a" then "" */
	add(t, "*.*", 2);
	add(t, ".", 3);
	add(t, "*", 4);
	expect(t, "a.", (uint32_t[]){1, 2, 0});
	expect(t, ".", (uint32_t[]){2, 3, 0});
	expect(t, "a", (uint32_t[]){4, 0});
	expect(t, "", (uint32_t[]){0}); /* no words: '*' needs one */
	lp_topic_trie_destroy(t);
}

static void wildcards_in_keys_are_literal(void **state)
{
	struct lp_topic_trie *t = lp_topic_trie_create();
	(void)state;
	add(t, "a.b", 1);
	expect(t, "a.*", (uint32_t[]){0});
	expect(t, "#", (uint32_t[]){0});
	lp_topic_trie_destroy(t);
}

static void remove_and_duplicates(void **state)
{
	struct lp_topic_trie *t = lp_topic_trie_create();
	(void)state;
	add(t, "x.#", 7);
	add(t, "x.#", 7); /* same binding twice is one binding */
	add(t, "x.#.#", 8);
	assert_int_equal(lp_topic_trie_count(t), 2);
	expect(t, "x.y", (uint32_t[]){7, 8, 0});
	assert_int_equal(lp_topic_trie_remove(t, "x.#", 3, 7), 0);
	assert_int_equal(lp_topic_trie_remove(t, "x.#", 3, 7), -ENOENT);
	assert_int_equal(lp_topic_trie_remove(t, "nope", 4, 7), -ENOENT);
	expect(t, "x.y", (uint32_t[]){8, 0});
	assert_int_equal(lp_topic_trie_count(t), 1);
	lp_topic_trie_destroy(t);
}

static void limits(void **state)
{
	struct lp_topic_trie *t = lp_topic_trie_create();
	char long_key[300];
	uint32_t out[4];
	(void)state;
	memset(long_key, 'a', sizeof(long_key));
	assert_int_equal(lp_topic_trie_add(t, long_key, 256, 1), -EINVAL);
	assert_int_equal(lp_topic_trie_match(t, long_key, 256, out, 4), -EINVAL);
	/* 255 dots: 256 empty words, against a pathological pattern. */
	memset(long_key, '.', 255);
	add(t, "#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.#", 1);
	assert_int_equal(lp_topic_trie_match(t, long_key, 255, out, 4), 1);
	/* Truncation is visible: more matches than room. */
	for (uint32_t d = 10; d < 20; d++)
		add(t, "#", d);
	assert_int_equal(match_str(t, "k", out, 4), 10);
	lp_topic_trie_destroy(t);
}

/* Reference: RabbitMQ's definition, word by word, by plain recursion. */
static bool ref_match(char **p, int np, char **k, int nk)
{
	if (np == 0)
		return nk == 0;
	if (strcmp(p[0], "#") == 0) {
		for (int i = 0; i <= nk; i++)
			if (ref_match(p + 1, np - 1, k + i, nk - i))
				return true;
		return false;
	}
	if (nk == 0)
		return false;
	if (strcmp(p[0], "*") != 0 && strcmp(p[0], k[0]) != 0)
		return false;
	return ref_match(p + 1, np - 1, k + 1, nk - 1);
}

static int ref_split(char *s, char **words)
{
	int n = 0;

	if (*s == '\0')
		return 0;
	words[n++] = s;
	for (; *s; s++) {
		if (*s == '.') {
			*s = '\0';
			words[n++] = s + 1;
		}
	}
	return n;
}

static void random_string(char *out, const char *const *alphabet, unsigned n_alpha, unsigned words)
{
	out[0] = '\0';
	for (unsigned i = 0; i < words; i++) {
		if (i)
			strcat(out, ".");
		strcat(out, alphabet[(unsigned)rand() % n_alpha]);
	}
}

static void randomized_against_reference(void **state)
{
	static const char *const pat_words[] = {"a", "b", "c", "", "*", "#"};
	static const char *const key_words[] = {"a", "b", "c", ""};
	enum { N_PATTERNS = 60, N_KEYS = 400 };
	char patterns[N_PATTERNS][64];
	struct lp_topic_trie *t = lp_topic_trie_create();
	(void)state;
	srand(12345);
	for (uint32_t i = 0; i < N_PATTERNS; i++) {
		random_string(patterns[i], pat_words, 6, (unsigned)rand() % 6);
		add(t, patterns[i], i + 1);
	}
	for (int k = 0; k < N_KEYS; k++) {
		char key[64], kbuf[64], pbuf[64], *kw[32], *pw[32];
		uint32_t want[N_PATTERNS + 1], got[N_PATTERNS];
		unsigned n_want = 0;

		random_string(key, key_words, 4, (unsigned)rand() % 7);
		for (uint32_t i = 0; i < N_PATTERNS; i++) {
			strcpy(kbuf, key);
			strcpy(pbuf, patterns[i]);
			if (ref_match(pw, ref_split(pbuf, pw), kw, ref_split(kbuf, kw)))
				want[n_want++] = i + 1;
		}
		int n = match_str(t, key, got, N_PATTERNS);

		if ((unsigned)n != n_want || memcmp(got, want, n_want * sizeof(*got)) != 0) {
			print_error("key '%s': %d matches, reference %u\n", key, n, n_want);
			fail();
		}
	}
	lp_topic_trie_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tutorial_five),
		cmocka_unit_test(rabbitmq_matching_table),
		cmocka_unit_test(empty_words_are_words),
		cmocka_unit_test(wildcards_in_keys_are_literal),
		cmocka_unit_test(remove_and_duplicates),
		cmocka_unit_test(limits),
		cmocka_unit_test(randomized_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
