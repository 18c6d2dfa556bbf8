/* SPDX-License-Identifier: MIT */
/*
 * lepusctl's HTTP commands (see lepusctl_http.h): a minimal HTTP/1.1
 * client (one request per connection, Connection: close, the response read
 * to EOF within 10 s) and the commands on top of it, printing what
 * rabbitmqctl prints ("Setting policy ...", tab-separated lists with a
 * header line, "Error:" and the API's reason).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_addr.h"
#include "http_path.h"
#include "lepusctl_http.h"
#include "password.h"

#define TIMEOUT_MS 10000

struct reply {
	unsigned status;
	char *raw;        /* whole response, NUL-terminated */
	const char *body; /* into raw */
};

static int connect_to(const char *addr)
{
	struct sockaddr_in sin;
	if (lp_http_parse_addr(addr, &sin) < 0)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One request. 0 with *out filled (free out->raw), or -errno (reported). */
static int request(const struct lp_cli_http *o, const char *method, const char *path,
		   const char *body, struct reply *out)
{
	memset(out, 0, sizeof(*out));
	int fd = connect_to(o->addr);
	if (fd < 0) {
		fprintf(stderr, "lepusctl: management API at %s: %s\n", o->addr, strerror(-fd));
		return fd;
	}
	char cred[512], b64[700];
	snprintf(cred, sizeof(cred), "%s:%s", o->user, o->password);
	lp_base64_encode(b64, sizeof(b64), cred, strlen(cred), false);
	explicit_bzero(cred, sizeof(cred));
	size_t blen = body ? strlen(body) : 0;
	char head[8192];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", method, path, o->addr, b64, blen);
	explicit_bzero(b64, sizeof(b64));
	int rc = n < 0 || (size_t)n >= sizeof(head) ? -ENAMETOOLONG : send_all(fd, head, (size_t)n);
	if (rc == 0 && blen)
		rc = send_all(fd, body, blen);
	size_t len = 0, cap = 65536;
	char *buf = rc == 0 ? malloc(cap) : NULL;
	if (rc == 0 && !buf)
		rc = -ENOMEM;
	while (rc == 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, TIMEOUT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			rc = pr == 0 ? -ETIMEDOUT : -errno;
			break;
		}
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else
			len += (size_t)r;
	}
	close(fd);
	if (rc == 0) {
		buf[len] = '\0';
		char *sep = strstr(buf, "\r\n\r\n");
		if (strncmp(buf, "HTTP/1.", 7) != 0 || !sep || len < 12) {
			rc = -EPROTO;
		} else {
			out->status = (unsigned)atoi(buf + 9);
			out->raw = buf;
			out->body = sep + 4;
			return 0;
		}
	}
	free(buf);
	fprintf(stderr, "lepusctl: management API at %s: %s\n", o->addr, strerror(-rc));
	return rc;
}

/* Print s with the API's HTML escapes (&lt; &gt; &amp;) undone. */
static void print_unescaped(FILE *f, const char *s)
{
	static const struct {
		const char *from;
		char to;
	} esc[] = { { "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' } };
	while (*s) {
		size_t k = 0;
		while (k < 3 && strncmp(s, esc[k].from, strlen(esc[k].from)) != 0)
			k++;
		if (k < 3) {
			fputc(esc[k].to, f);
			s += strlen(esc[k].from);
		} else {
			fputc(*s++, f);
		}
	}
}

/* A 2xx, or "Error:" and the API's reason on stderr (false). */
static bool answered(const struct reply *r)
{
	if (r->status >= 200 && r->status < 300)
		return true;
	json_t *j = json_loads(r->body, 0, NULL);
	const char *reason = json_string_value(json_object_get(j, "reason"));
	if (r->status == 401 && !reason)
		reason = "not authorised (check --user and --password)";
	/* rabbitmqctl's words for a policy or parameter that is not there */
	if (r->status == 404 && reason && strcmp(reason, "Not Found") == 0)
		reason = "Parameter does not exist";
	fputs("Error:\n", stderr);
	print_unescaped(stderr, reason ? reason : r->body);
	fputc('\n', stderr);
	json_decref(j);
	return false;
}

/* "/api/" + prefix + "/" + escaped vhost [+ "/" + escaped name]. */
static int api_path(char *dst, size_t cap, const char *prefix, const char *vhost, const char *name)
{
	char v[3 * 256 + 1], n[3 * 256 + 1] = "";
	if (lp_http_escape_segment(v, sizeof(v), vhost) < 0 ||
	    (name && lp_http_escape_segment(n, sizeof(n), name) < 0))
		return -ENAMETOOLONG;
	int w = snprintf(dst, cap, "/api/%s/%s%s%s", prefix, v, name ? "/" : "", n);
	return w < 0 || (size_t)w >= cap ? -ENAMETOOLONG : 0;
}

static int run_set(const struct lp_cli_http *o, bool op, char **args)
{
	char path[2048];
	json_error_t jerr;
	json_t *def = json_loads(args[2], 0, &jerr);
	if (!json_is_object(def)) {
		fprintf(stderr, "Error:\ndefinition is not a JSON object: %s\n",
			def ? "not an object" : jerr.text);
		json_decref(def);
		return 2;
	}
	json_t *prio;
	if (o->priority) {
		char *end;
		long long v = strtoll(o->priority, &end, 10);
		if (!*o->priority || *end) {
			fprintf(stderr, "Error:\npriority must be an integer, not '%s'\n", o->priority);
			json_decref(def);
			return 2;
		}
		prio = json_integer(v);
	} else {
		prio = json_integer(0);
	}
	json_t *body = json_pack("{s:s, s:o, s:o, s:s}", "pattern", args[1], "definition", def,
				 "priority", prio, "apply-to", o->apply_to ? o->apply_to : "all");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text || api_path(path, sizeof(path), op ? "operator-policies" : "policies", o->vhost,
			      args[0]) < 0) {
		free(text);
		fprintf(stderr, "lepusctl: name or vhost too long\n");
		return 2;
	}
	printf("Setting %s \"%s\" for pattern \"%s\" to \"%s\" with priority \"%s\" for vhost "
	       "\"%s\" ...\n", op ? "operator policy override" : "policy", args[0], args[1],
	       args[2], o->priority ? o->priority : "0", o->vhost);
	fflush(stdout);
	struct reply r;
	int rc = request(o, "PUT", path, text, &r);
	free(text);
	if (rc < 0)
		return 1;
	rc = answered(&r) ? 0 : 1;
	free(r.raw);
	return rc;
}

static int run_clear(const struct lp_cli_http *o, bool op, const char *name)
{
	char path[2048];
	if (api_path(path, sizeof(path), op ? "operator-policies" : "policies", o->vhost, name) < 0)
		return 2;
	printf("Clearing %s \"%s\" on vhost \"%s\" ...\n", op ? "operator policy" : "policy", name,
	       o->vhost);
	fflush(stdout);
	struct reply r;
	if (request(o, "DELETE", path, NULL, &r) < 0)
		return 1;
	int rc = answered(&r) ? 0 : 1;
	free(r.raw);
	return rc;
}

static void print_field(const json_t *v)
{
	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		fputs(s ? s : "", stdout);
		free(s);
	}
}

static int run_list(const struct lp_cli_http *o, bool op)
{
	static const char *const cols[] = { "vhost", "name", "pattern", "apply-to", "definition",
					    "priority" };
	char path[2048];
	if (api_path(path, sizeof(path), op ? "operator-policies" : "policies", o->vhost, NULL) < 0)
		return 2;
	struct reply r;
	if (request(o, "GET", path, NULL, &r) < 0)
		return 1;
	if (!answered(&r)) {
		free(r.raw);
		return 1;
	}
	json_t *a = json_loads(r.body, 0, NULL);
	free(r.raw);
	if (!json_is_array(a)) {
		fprintf(stderr, "lepusctl: the API's answer is not a JSON array\n");
		json_decref(a);
		return 1;
	}
	if (o->json) {
		/* rabbitmqctl --formatter json: one object a line, the definition
		 * as a JSON string */
		size_t i;
		json_t *e;
		printf("[\n");
		json_array_foreach(a, i, e) {
			json_t *def = json_object_get(e, "definition");
			char *d = json_dumps(def, JSON_COMPACT | JSON_ENCODE_ANY);
			json_object_set_new(e, "definition", json_string(d ? d : ""));
			free(d);
			char *line = json_dumps(e, JSON_COMPACT);
			printf("%s%s\n", i ? "," : "", line ? line : "{}");
			free(line);
		}
		printf("]\n");
	} else {
		printf("Listing %s for vhost \"%s\" ...\n",
		       op ? "operator policy overrides" : "policies", o->vhost);
		for (size_t c = 0; c < 6; c++)
			printf("%s%s", cols[c], c < 5 ? "\t" : "\n");
		size_t i;
		json_t *e;
		json_array_foreach(a, i, e) {
			for (size_t c = 0; c < 6; c++) {
				print_field(json_object_get(e, cols[c]));
				putchar(c < 5 ? '\t' : '\n');
			}
		}
	}
	json_decref(a);
	return 0;
}

static int run_export(const struct lp_cli_http *o, const char *file)
{
	bool to_stdout = strcmp(file, "-") == 0;
	if (!to_stdout)
		printf("Exporting definitions in JSON to a file at \"%s\" ...\n", file);
	struct reply r;
	if (request(o, "GET", "/api/definitions", NULL, &r) < 0)
		return 1;
	if (!answered(&r)) {
		free(r.raw);
		return 1;
	}
	FILE *f = to_stdout ? stdout : fopen(file, "w");
	int rc = 0;
	if (!f || fputs(r.body, f) < 0 || fputc('\n', f) < 0 || (!to_stdout && fclose(f) != 0)) {
		fprintf(stderr, "lepusctl: cannot write %s: %s\n", file, strerror(errno));
		rc = 1;
	}
	free(r.raw);
	return rc;
}

static int run_import(const struct lp_cli_http *o, const char *file)
{
	json_error_t jerr;
	json_t *defs = strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &jerr)
					      : json_load_file(file, 0, &jerr);
	if (!json_is_object(defs)) {
		fprintf(stderr, "Error:\n%s: not a definitions file: %s\n", file,
			defs ? "not a JSON object" : jerr.text);
		json_decref(defs);
		return 1;
	}
	char *text = json_dumps(defs, JSON_COMPACT);
	json_decref(defs);
	if (!text)
		return 1;
	printf("Importing definitions in JSON from a file at \"%s\" ...\n", file);
	fflush(stdout);
	struct reply r;
	int rc = request(o, "POST", "/api/definitions", text, &r);
	free(text);
	if (rc < 0)
		return 1;
	rc = answered(&r) ? 0 : 1;
	free(r.raw);
	if (rc == 0)
		printf("Successfully started definition import. This process is asynchronous and "
		       "can take some time.\n");
	return rc;
}

static const struct {
	const char *name;
	int nargs;
} commands[] = {
	{ "set_policy", 3 }, { "clear_policy", 1 }, { "list_policies", 0 },
	{ "set_operator_policy", 3 }, { "clear_operator_policy", 1 },
	{ "list_operator_policies", 0 }, { "export_definitions", 1 },
	{ "import_definitions", 1 },
};

bool lp_cli_http_command(const char *cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return true;
	return false;
}

int lp_cli_http_run(const struct lp_cli_http *o, const char *cmd, char **args, int nargs)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0 && nargs != commands[i].nargs)
			return 2;
	bool op = strstr(cmd, "operator") != NULL;
	if (strncmp(cmd, "set_", 4) == 0)
		return run_set(o, op, args);
	if (strncmp(cmd, "clear_", 6) == 0)
		return run_clear(o, op, args[0]);
	if (strncmp(cmd, "list_", 5) == 0)
		return run_list(o, op);
	if (strcmp(cmd, "export_definitions") == 0)
		return run_export(o, args[0]);
	if (strcmp(cmd, "import_definitions") == 0)
		return run_import(o, args[0]);
	return 2;
}
