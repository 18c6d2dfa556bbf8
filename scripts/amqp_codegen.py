#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Generates Lepus's AMQP 0-9-1 method codec from the machine-readable spec.

Reads dataplane/amqp/spec/amqp-rabbitmq-0.9.1.json (AMQP 0-9-1 with RabbitMQ's
extensions) and writes amqp_spec.h and amqp_spec.c: constants, the reply-code
X-macro used by amqp_reply.c, class and method ids, one struct per method, the
basic content-header properties, decoders, encoders, names and field
descriptors. The build runs it (meson custom_target) and a unit test runs it
again and compares, so the tree never carries stale generated code. Output is
deterministic: no dates, no absolute paths.

usage: amqp_codegen.py SPEC.json OUT.h OUT.c
"""

import json
import os
import sys

HEADER_LINE = ("/* generated, do not edit: written by scripts/amqp_codegen.py from "
               "dataplane/amqp/spec/amqp-rabbitmq-0.9.1.json */\n")

# Primitive type -> (C type, enum name)
CTYPES = {
    "bit": ("bool", "BIT"),
    "octet": ("uint8_t", "OCTET"),
    "short": ("uint16_t", "SHORT"),
    "long": ("uint32_t", "LONG"),
    "longlong": ("uint64_t", "LONGLONG"),
    "timestamp": ("uint64_t", "TIMESTAMP"),
    "shortstr": ("struct lp_amqp_bytes", "SHORTSTR"),
    "longstr": ("struct lp_amqp_bytes", "LONGSTR"),
    "table": ("struct lp_amqp_bytes", "TABLE"),
}


def cname(s):
    return s.replace("-", "_")


def upper(s):
    return cname(s).upper()


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.d = json.load(f)
        self.domains = {name: typ for name, typ in self.d["domains"]}
        self.classes = self.d["classes"]
        self.methods = []  # (class, method, [(argname, type)])
        for c in self.classes:
            for m in c["methods"]:
                args = [(cname(a["name"]), self.arg_type(a)) for a in m["arguments"]]
                self.methods.append((c, m, args))

    def arg_type(self, a):
        t = a.get("type")
        if t is None:
            t = self.domains[a["domain"]]
        while t in self.domains and self.domains[t] != t:
            t = self.domains[t]
        if t not in CTYPES:
            raise SystemExit("amqp_codegen: unknown type %r" % t)
        return t


def mid(c, m):
    return "LP_AMQP_%s_%s" % (upper(c["name"]), upper(m["name"]))


def sname(c, m):
    return "%s_%s" % (cname(c["name"]), cname(m["name"]))


def groups(args):
    """Splits arguments into runs: consecutive bits share octets (spec 4.2.5.2)."""
    out = []
    for name, t in args:
        if t == "bit" and out and out[-1][0] == "bits" and len(out[-1][1]) < 8:
            out[-1][1].append(name)
        elif t == "bit":
            out.append(("bits", [name]))
        else:
            out.append((t, name))
    return out


def gen_h(spec):
    d = spec.d
    o = [HEADER_LINE, "/* SPDX-License-Identifier: MIT */\n"]
    o.append("""/*
 * AMQP 0-9-1 method codec generated from the spec data (RabbitMQ's edition,
 * MIT-licensed; see dataplane/amqp/spec/NOTICE): constants, reply codes, class
 * and method ids, one struct per method, basic content-header properties,
 * decoders and encoders over byte buffers. Decoded shortstr, longstr and table
 * arguments are views into the decoded buffer: they live as long as it does.
 * The frame layer (amqp_frame.c) and the connection (amqp_conn.c) use these.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"

""")
    o.append("#define LP_AMQP_VERSION_MAJOR %d\n" % d["major-version"])
    o.append("#define LP_AMQP_VERSION_MINOR %d\n" % d["minor-version"])
    o.append("#define LP_AMQP_VERSION_REVISION %d\n" % d["revision"])
    o.append("#define LP_AMQP_PORT %d\n\n" % d["port"])
    o.append("/* Spec constants that are not reply codes. */\n")
    for k in d["constants"]:
        if "class" not in k and k["name"] != "REPLY-SUCCESS":
            o.append("#define LP_AMQP_%s %d\n" % (upper(k["name"]), k["value"]))
    o.append("\n/* Reply codes: X(code, NAME, hard) where hard means a connection exception\n"
             " * (spec 1.3 'Constants', class hard-error). amqp_reply.{c,h} expand it. */\n")
    o.append("#define LP_AMQP_REPLY_CODES(X) \\\n")
    rc = [k for k in d["constants"] if "class" in k or k["name"] == "REPLY-SUCCESS"]
    for k in rc:
        o.append("\tX(%d, %s, %s) \\\n" % (k["value"], upper(k["name"]),
                                         "true" if k.get("class") == "hard-error" else "false"))
    o.append("\t/* end */\n\n")
    for c in spec.classes:
        o.append("#define LP_AMQP_CLASS_%s %d\n" % (upper(c["name"]), c["id"]))
    o.append("\n/* Method ids: class id << 16 | method id. */\n")
    for c, m, _ in spec.methods:
        o.append("#define %s 0x%08XU /* %s.%s */\n" % (mid(c, m), (c["id"] << 16) | m["id"],
                                                     c["name"], m["name"]))
    o.append("#define LP_AMQP_METHOD_COUNT %d\n\n" % len(spec.methods))
    o.append("static inline uint16_t lp_amqp_method_class(uint32_t id)\n{\n\treturn (uint16_t)(id >> 16);\n}\n\n")

    o.append("/* Argument types, for the field descriptors. */\nenum lp_amqp_type {\n")
    for t in ["bit", "octet", "short", "long", "longlong", "timestamp", "shortstr", "longstr", "table"]:
        o.append("\tLP_AMQP_TYPE_%s,\n" % CTYPES[t][1])
    o.append("};\n\n")

    for c, m, args in spec.methods:
        if not args:
            continue
        o.append("struct lp_amqp_%s {\n" % sname(c, m))
        for n, t in args:
            o.append("\t%s %s;\n" % (CTYPES[t][0], n))
        o.append("};\n\n")
    o.append("/* A decoded method: 'id' selects the union member (none for methods\n"
             " * without arguments). */\nstruct lp_amqp_method {\n\tuint32_t id;\n\tunion {\n")
    for c, m, args in spec.methods:
        if args:
            o.append("\t\tstruct lp_amqp_%s %s;\n" % (sname(c, m), sname(c, m)))
    o.append("\t};\n};\n\n")

    for c in spec.classes:
        props = c.get("properties") or []
        if not props:
            continue
        cn = cname(c["name"])
        o.append("/* %s content-header properties (spec 4.2.6.1): bit 15 of the first\n"
                 " * flags word is the first property. */\n" % c["name"])
        for i, p in enumerate(props):
            o.append("#define LP_AMQP_%s_%s_FLAG (1U << %d)\n" % (upper(c["name"]), upper(p["name"]), 15 - i))
        o.append("struct lp_amqp_%s_properties {\n\tuint16_t flags;\n" % cn)
        for p in props:
            o.append("\t%s %s;\n" % (CTYPES[spec.arg_type(p)][0], cname(p["name"])))
        o.append("};\n\n")
        o.append("/* Decodes property flags + list from [p, p+len), exactly. Returns 0, or\n"
                 " * -EBADMSG when truncated, trailing, or a flag names no property. */\n")
        o.append("int lp_amqp_%s_properties_decode(const uint8_t *p, size_t len,\n"
                 "\t\t\t\t   struct lp_amqp_%s_properties *props);\n" % (cn, cn))
        o.append("/* Encodes flags + the flagged properties. Returns bytes written, -ENOSPC\n"
                 " * when it does not fit, -EINVAL for a shortstr over 255 octets. */\n")
        o.append("int lp_amqp_%s_properties_encode(const struct lp_amqp_%s_properties *props,\n"
                 "\t\t\t\t   uint8_t *buf, size_t cap);\n\n" % (cn, cn))

    o.append("""struct lp_amqp_field_desc {
	const char *name;
	uint8_t type; /* enum lp_amqp_type */
	uint16_t offset; /* within struct lp_amqp_method */
};

struct lp_amqp_method_desc {
	uint32_t id;
	const char *name; /* "class.method" */
	bool synchronous;
	bool content; /* followed by a content header and body */
	uint8_t nfields;
	const struct lp_amqp_field_desc *fields;
};

/* Every method id in spec order. */
extern const uint32_t lp_amqp_method_ids[LP_AMQP_METHOD_COUNT];

/* Descriptor of a method, or NULL for an unknown id. */
const struct lp_amqp_method_desc *lp_amqp_method_desc(uint32_t id);

/* "connection.start" etc., or NULL for an unknown id. */
const char *lp_amqp_method_name(uint32_t id);

/* "connection" etc., or NULL for an unknown class. */
const char *lp_amqp_class_name(uint16_t class_id);

/* Decodes a method frame payload (class id, method id, arguments; spec 4.2.4)
 * from [p, p+len), exactly. Returns 0 and fills *m (views into p); -ENOTSUP
 * (m->id set) for an unknown class or method id; -EBADMSG when truncated,
 * followed by trailing bytes, or a table argument is malformed. */
int lp_amqp_method_decode(const uint8_t *p, size_t len, struct lp_amqp_method *m);

/* Encodes a method frame payload. Returns bytes written; -ENOSPC when it does
 * not fit in cap (nothing useful written); -EINVAL for a shortstr over 255
 * octets; -ENOTSUP for an unknown id. */
int lp_amqp_method_encode(const struct lp_amqp_method *m, uint8_t *buf, size_t cap);
""")
    return "".join(o)


def rd_stmt(t, dst):
    if t == "octet":
        return "lp_amqp_rd_u8(&r, &%s)" % dst
    if t == "short":
        return "lp_amqp_rd_u16(&r, &%s)" % dst
    if t == "long":
        return "lp_amqp_rd_u32(&r, &%s)" % dst
    if t in ("longlong", "timestamp"):
        return "lp_amqp_rd_u64(&r, &%s)" % dst
    if t == "shortstr":
        return "lp_amqp_rd_shortstr(&r, &%s)" % dst
    if t == "longstr":
        return "lp_amqp_rd_longstr(&r, &%s)" % dst
    if t == "table":
        return "lp_amqp_rd_table(&r, &%s)" % dst
    raise ValueError(t)


def wr_stmt(t, src):
    if t == "octet":
        return "lp_amqp_wr_u8(&w, %s)" % src
    if t == "short":
        return "lp_amqp_wr_u16(&w, %s)" % src
    if t == "long":
        return "lp_amqp_wr_u32(&w, %s)" % src
    if t in ("longlong", "timestamp"):
        return "lp_amqp_wr_u64(&w, %s)" % src
    if t == "shortstr":
        return "lp_amqp_wr_shortstr(&w, %s)" % src
    if t in ("longstr", "table"):
        return "lp_amqp_wr_longstr(&w, %s)" % src
    raise ValueError(t)


def gen_c(spec):
    o = [HEADER_LINE, "/* SPDX-License-Identifier: MIT */\n"]
    o.append("""/*
 * AMQP 0-9-1 method codec generated from the spec data; see amqp_spec.h.
 * Arguments are read and written in spec order; consecutive bit arguments
 * share octets, least significant bit first (spec 4.2.5.2).
 */
#include "amqp_spec.h"

#include <errno.h>
#include <stddef.h>

#include "amqp_table.h"

""")
    # descriptors
    for c, m, args in spec.methods:
        if not args:
            continue
        o.append("static const struct lp_amqp_field_desc fields_%s[] = {\n" % sname(c, m))
        for n, t in args:
            o.append("\t{ \"%s\", LP_AMQP_TYPE_%s, offsetof(struct lp_amqp_method, %s.%s) },\n"
                     % (n, CTYPES[t][1], sname(c, m), n))
        o.append("};\n")
    o.append("\nstatic const struct lp_amqp_method_desc method_descs[LP_AMQP_METHOD_COUNT] = {\n")
    for c, m, args in spec.methods:
        o.append("\t{ %s, \"%s.%s\", %s, %s, %d, %s },\n" % (
            mid(c, m), c["name"], m["name"], "true" if m.get("synchronous") else "false",
            "true" if m.get("content") else "false", len(args),
            ("fields_" + sname(c, m)) if args else "NULL"))
    o.append("};\n\nconst uint32_t lp_amqp_method_ids[LP_AMQP_METHOD_COUNT] = {\n")
    for c, m, _ in spec.methods:
        o.append("\t%s,\n" % mid(c, m))
    o.append("};\n\n")
    o.append("static int method_index(uint32_t id)\n{\n\tswitch (id) {\n")
    for i, (c, m, _) in enumerate(spec.methods):
        o.append("\tcase %s:\n\t\treturn %d;\n" % (mid(c, m), i))
    o.append("\tdefault:\n\t\treturn -1;\n\t}\n}\n\n")
    o.append("""const struct lp_amqp_method_desc *lp_amqp_method_desc(uint32_t id)
{
	int i = method_index(id);
	return i < 0 ? NULL : &method_descs[i];
}

const char *lp_amqp_method_name(uint32_t id)
{
	int i = method_index(id);
	return i < 0 ? NULL : method_descs[i].name;
}

const char *lp_amqp_class_name(uint16_t class_id)
{
	switch (class_id) {
""")
    for c in spec.classes:
        o.append("\tcase %d:\n\t\treturn \"%s\";\n" % (c["id"], c["name"]))
    o.append("\tdefault:\n\t\treturn NULL;\n\t}\n}\n\n")

    # decoder
    o.append("""int lp_amqp_method_decode(const uint8_t *p, size_t len, struct lp_amqp_method *m)
{
	struct lp_amqp_rd r;
	uint16_t cid, mid;
	uint8_t bits;

	m->id = 0;
	lp_amqp_rd_init(&r, p, len);
	if (!lp_amqp_rd_u16(&r, &cid) || !lp_amqp_rd_u16(&r, &mid))
		return -EBADMSG;
	m->id = ((uint32_t)cid << 16) | mid;
	(void)bits;
	switch (m->id) {
""")
    for c, m, args in spec.methods:
        o.append("\tcase %s:\n" % mid(c, m))
        if args:
            o.append("\t{\n\t\tstruct lp_amqp_%s *a = &m->%s;\n" % (sname(c, m), sname(c, m)))
            for g in groups(args):
                if g[0] == "bits":
                    o.append("\t\tif (!lp_amqp_rd_u8(&r, &bits))\n\t\t\treturn -EBADMSG;\n")
                    for i, n in enumerate(g[1]):
                        o.append("\t\ta->%s = (bits >> %d) & 1;\n" % (n, i))
                else:
                    o.append("\t\tif (!%s)\n\t\t\treturn -EBADMSG;\n" % rd_stmt(g[0], "a->" + g[1]))
            o.append("\t\tbreak;\n\t}\n")
        else:
            o.append("\t\tbreak;\n")
    o.append("""	default:
		return -ENOTSUP;
	}
	/* Arguments fill the payload exactly (spec 4.2.4: the payload is the method's
	 * argument list, nothing else). */
	if (lp_amqp_rd_left(&r) != 0)
		return -EBADMSG;
	return 0;
}

""")
    # encoder
    o.append("""int lp_amqp_method_encode(const struct lp_amqp_method *m, uint8_t *buf, size_t cap)
{
	struct lp_amqp_wr w;

	lp_amqp_wr_init(&w, buf, cap);
	lp_amqp_wr_u16(&w, lp_amqp_method_class(m->id));
	lp_amqp_wr_u16(&w, (uint16_t)m->id);
	switch (m->id) {
""")
    for c, m, args in spec.methods:
        o.append("\tcase %s:\n" % mid(c, m))
        if args:
            o.append("\t{\n\t\tconst struct lp_amqp_%s *a = &m->%s;\n" % (sname(c, m), sname(c, m)))
            shorts = [n for n, t in args if t == "shortstr"]
            if shorts:
                o.append("\t\tif (%s)\n\t\t\treturn -EINVAL;\n" %
                         " || ".join("a->%s.len > 255" % n for n in shorts))
            for g in groups(args):
                if g[0] == "bits":
                    expr = " | ".join("(a->%s ? %du : 0u)" % (n, 1 << i) for i, n in enumerate(g[1]))
                    o.append("\t\tlp_amqp_wr_u8(&w, (uint8_t)(%s));\n" % expr)
                else:
                    o.append("\t\t%s;\n" % wr_stmt(g[0], "a->" + g[1]))
            o.append("\t\tbreak;\n\t}\n")
        else:
            o.append("\t\tbreak;\n")
    o.append("""	default:
		return -ENOTSUP;
	}
	if (w.overflow)
		return -ENOSPC;
	return (int)w.off;
}
""")
    # properties
    for c in spec.classes:
        props = c.get("properties") or []
        if not props:
            continue
        cn = cname(c["name"])
        n = len(props)
        o.append("""
int lp_amqp_%s_properties_decode(const uint8_t *p, size_t len,
				   struct lp_amqp_%s_properties *props)
{
	struct lp_amqp_rd r;
	uint16_t flags, more;

	lp_amqp_rd_init(&r, p, len);
	if (!lp_amqp_rd_u16(&r, &flags))
		return -EBADMSG;
	/* Spec 4.2.6.1: bit 0 set means another flags word follows; this class
	 * has %d properties, so any further word must name none. */
	more = flags & 1;
	while (more) {
		uint16_t next;
		if (!lp_amqp_rd_u16(&r, &next) || (next & 0xFFFE) != 0)
			return -EBADMSG;
		more = next & 1;
	}
	flags &= 0xFFFE;
	if (flags & ((1U << %d) - 1) & 0xFFFE)
		return -EBADMSG;
	props->flags = flags;
""" % (cn, cn, n, 16 - n))
        for i, pr in enumerate(props):
            t = spec.arg_type(pr)
            f = "LP_AMQP_%s_%s_FLAG" % (upper(c["name"]), upper(pr["name"]))
            o.append("\tif ((flags & %s) && !%s)\n\t\treturn -EBADMSG;\n" %
                     (f, rd_stmt(t, "props->" + cname(pr["name"]))))
        o.append("\treturn lp_amqp_rd_left(&r) == 0 ? 0 : -EBADMSG;\n}\n")
        o.append("""
int lp_amqp_%s_properties_encode(const struct lp_amqp_%s_properties *props,
				   uint8_t *buf, size_t cap)
{
	struct lp_amqp_wr w;
	uint16_t flags = props->flags & (uint16_t)~((1U << %d) - 1);

	lp_amqp_wr_init(&w, buf, cap);
	lp_amqp_wr_u16(&w, flags);
""" % (cn, cn, 16 - n))
        for pr in props:
            t = spec.arg_type(pr)
            f = "LP_AMQP_%s_%s_FLAG" % (upper(c["name"]), upper(pr["name"]))
            src = "props->" + cname(pr["name"])
            if t == "shortstr":
                o.append("\tif ((flags & %s) && %s.len > 255)\n\t\treturn -EINVAL;\n" % (f, src))
            o.append("\tif (flags & %s)\n\t\t%s;\n" % (f, wr_stmt(t, src)))
        o.append("\treturn w.overflow ? -ENOSPC : (int)w.off;\n}\n")
    return "".join(o)


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    spec = Spec(argv[1])
    write_if_changed(argv[2], gen_h(spec))
    write_if_changed(argv[3], gen_c(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
