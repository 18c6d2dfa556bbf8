#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks that the generated AMQP codec the build compiled (amqp_spec.h/.c in
the build tree) is byte for byte what scripts/amqp_codegen.py writes from the
spec now, and that both files say they are generated in their first line.

usage: test_amqp_codegen.py GENERATOR SPEC BUILT.h BUILT.c
"""
import os
import subprocess
import sys
import tempfile


def main(argv):
    gen, spec, built_h, built_c = argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        out_h = os.path.join(tmp, "amqp_spec.h")
        out_c = os.path.join(tmp, "amqp_spec.c")
        subprocess.run(["/usr/bin/python3", gen, spec, out_h, out_c], check=True)
        bad = 0
        for built, fresh in ((built_h, out_h), (built_c, out_c)):
            with open(built, "rb") as a, open(fresh, "rb") as b:
                ba, bb = a.read(), b.read()
            if ba != bb:
                print("FAIL: %s differs from a fresh run of the generator" % built)
                bad += 1
            if not ba.startswith(b"/* generated, do not edit"):
                print("FAIL: %s does not say 'generated, do not edit' in its first line" % built)
                bad += 1
            print("%s: %d bytes, %s" % (os.path.basename(built), len(ba),
                                       "same" if ba == bb else "DIFFERENT"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
