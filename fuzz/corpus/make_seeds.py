#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets (deterministic; rerun to refresh).

yaml/ and patch/ get small manifests and patch triples, cri_log/ a few log
files, unpack/ hand-made tar layers with the tricks a hostile image uses:
symlink and hard-link escapes, `..` and absolute paths, whiteouts, opaque
directories, device nodes, PAX xattrs, long names, gzip.
"""
import gzip
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(sub, name, data):
    path = os.path.join(HERE, sub, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.GNU_FORMAT):
    """entries: (name, type, extra) with extra = data, link target or devnums."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            ti.type = kind
            data = None
            if isinstance(extra, dict):
                ti.pax_headers = extra
                extra = None
            if kind == tarfile.REGTYPE:
                data = extra or b""
                ti.size = len(data)
            elif kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = extra
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                ti.devmajor, ti.devminor = extra
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


R, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE

basic = tar([("a/", D, None), ("a/f", R, b"hello\n"), ("a/l", S, "f"), ("a/h", H, "a/f"), ("bin/sh", R, b"#!")])
write("unpack", "basic.tar", basic)
write("unpack", "basic.tar.gz", gzip.compress(basic, mtime=0))
write("unpack", "symlink-escape.tar", tar([("evil", S, "/tmp/../.."), ("evil/pwned", R, b"x")]))
write("unpack", "symlink-chain.tar", tar([("a", S, "b"), ("b", S, "../.."), ("a/x", R, b"x")]))
write("unpack", "dotdot.tar", tar([("../outside/x", R, b"x"), ("a/../../y", R, b"y")]))
write("unpack", "absolute.tar", tar([("/etc/passwd", R, b"root::0:0::/:/bin/sh\n"), ("h", H, "/etc/passwd")]))
write("unpack", "whiteouts.tar", tar([("d/", D, None), ("d/.wh.gone", R, b""), ("d/.wh..wh..opq", R, b""), (".wh.top", R, b"")]))
write("unpack", "devices.tar", tar([("null", tarfile.CHRTYPE, (1, 3)), ("wh", tarfile.CHRTYPE, (0, 0)), ("sda", tarfile.BLKTYPE, (8, 0)), ("fifo", tarfile.FIFOTYPE, None)]))
write("unpack", "pax-xattr.tar", tar([("x", R, {"SCHILY.xattr.user.a": "1", "SCHILY.xattr.trusted.overlay.opaque": "y"})], tarfile.PAX_FORMAT))
write("unpack", "longname.tar", tar([("d" * 120 + "/" + "f" * 120, R, b"long"), ("l", S, "x" * 200)]))
write("unpack", "replace.tar", tar([("a", R, b"1"), ("a/", D, None), ("a", S, "a"), ("a", R, b"2")]))

docs = {
    "pod.yaml": b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo $(A)']\n    env: [{name: A, value: '1'}]\n",
    "multi.yaml": b"---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\ndata: {k: v}\n---\n# comment only\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: s}\nstringData: {p: q}\n",
    "list.yaml": b"kind: List\napiVersion: v1\nitems:\n- {kind: Pod, apiVersion: v1, metadata: {name: a}}\n- null\n",
    "anchors.yaml": b"base: &b {a: 1, b: [x, y]}\nderived:\n  <<: *b\n  c: !!str 0644\nmode: 0644\nnums: [1e3, .inf, -.nan, 0x1F, 0o17, ~]\n",
    "json.json": b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\"}} {\"kind\":\"Pod\"}",
    "strings.yaml": b"a: |\n  line1\n  line2\nb: >-\n  folded\n  text\nc: 'single ''quoted'''\nd: \"esc\\u00e9\\n\"\n? complex key\n: v\n",
}
for name, text in docs.items():
    write("yaml", name, text)

# The project's example pods are good manifests to mutate.
examples = os.path.join(HERE, "..", "..", "examples")
for name in sorted(os.listdir(examples)):
    if name.endswith(".yaml"):
        with open(os.path.join(examples, name), "rb") as f:
            write("yaml", "example-" + name, f.read())

patches = {
    "merge.json": b'{"metadata":{"name":"a","labels":{"x":"1"}},"spec":{"containers":[{"name":"c","image":"i"}]}}\n{"metadata":{"labels":{"x":null,"y":"2"}}}',
    "jsonpatch.json": b'{"a":{"b":[1,2,3]}}\n[{"op":"add","path":"/a/b/-","value":4},{"op":"remove","path":"/a/b/0"},{"op":"test","path":"/a/c","value":1}]',
    "strategic.json": b'{"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"E","value":"1"}]},{"name":"b","image":"y"}]}}\n{"spec":{"containers":[{"name":"a","image":"z"},{"name":"b","$patch":"delete"}],"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}}',
    "threeway.json": b'{"metadata":{"labels":{"a":"1","b":"2"}}}\n{"metadata":{"labels":{"a":"1","c":"3"}}}\n{"metadata":{"labels":{"a":"0","b":"2","z":"9"}},"status":{"phase":"Running"}}',
    "replace.json": b'{"spec":{"volumes":[{"name":"v","emptyDir":{}}]}}\n{"spec":{"volumes":[{"name":"v","$patch":"replace","hostPath":{"path":"/x"}}],"$patch":"merge"}}',
}
for name, text in patches.items():
    write("patch", name, text)

write("cri_log", "basic.log", b"2016-10-06T00:17:09.669794202Z stdout F hello world\n2016-10-06T00:17:10Z stderr P part\n2016-10-06T00:17:10.1Z stderr F ial\n")
write("cri_log", "odd.log", b"garbage\n\n2016 stdout\n2016 stdout F\nt stdout X  spaces  \xff\xfe\n")
