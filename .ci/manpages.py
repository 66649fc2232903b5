#!/usr/bin/env python3
"""Man pages for acme and each of its subcommands, from the argument parser itself.

    acme --experimental-dump-help | python3 .ci/manpages.py OUTDIR VERSION

Writes OUTDIR/acme.1 and OUTDIR/acme-<sub>[-<subsub>].1 (e.g. acme-issue.1, acme-account-register.1):
name, synopsis, the parser's abstract and discussion, and every visible argument with its help.
"""
import json
import os
import sys


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote that would be a request."""
    text = (text or "").replace("\\", "\\e")
    # groff's ASCII and Latin-1 devices (man without a UTF-8 locale) lack these: plain equivalents.
    for char, plain in (("\u2026", "..."), ("\u2014", "\\(em"), ("\u2013", "\\-"), ("\u2019", "'"),
                        ("\u201c", '"'), ("\u201d", '"'), ("\u00a7", "section "), ("\u2192", "->")):
        text = text.replace(char, plain)
    lines = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def flag_names(arg):
    names = []
    for name in arg.get("names", []):
        dash = "-" if name["kind"] == "short" else "--"
        names.append(dash + name["name"])
    return names


def argument_item(arg):
    names = flag_names(arg)
    value = arg.get("valueName", "")
    if arg["kind"] == "positional":
        head = "\\fI" + roff(value) + "\\fR"
    elif arg["kind"] == "option":
        head = ", ".join("\\fB" + roff(n) + "\\fR" for n in names) + " \\fI" + roff(value) + "\\fR"
    else:
        head = ", ".join("\\fB" + roff(n) + "\\fR" for n in names)
    body = roff(arg.get("abstract", ""))
    if arg.get("discussion"):
        body += "\n" + roff(arg["discussion"] if isinstance(arg["discussion"], str) else "")
    if arg.get("defaultValue") not in (None, ""):
        body += "\n(default: " + roff(str(arg["defaultValue"])) + ")"
    return ".TP\n" + head + "\n" + body + "\n"


def page(command, path, version):
    title = "-".join(path)
    args = [a for a in command.get("arguments", []) if a.get("shouldDisplay", True)]
    subs = [s for s in command.get("subcommands", []) if s.get("shouldDisplay", True) and s["commandName"] != "help"]
    out = ['.TH "%s" 1 "" "acme %s" "acme manual"' % (title.upper(), roff(version)),
           ".SH NAME", "%s \\- %s" % (roff(title), roff(command.get("abstract", ""))),
           ".SH SYNOPSIS", "\\fB%s\\fR%s%s" % (roff(" ".join(path)), " \\fISUBCOMMAND\\fR" if subs else "",
                                              " [\\fIOPTIONS\\fR]" if args else "")]
    if command.get("discussion"):
        out += [".SH DESCRIPTION", ".nf", roff(command["discussion"]), ".fi"]
    if args:
        out.append(".SH OPTIONS")
        out += [argument_item(a).rstrip("\n") for a in args]
    if subs:
        out.append(".SH SUBCOMMANDS")
        for sub in subs:
            out += [".TP", "\\fB%s\\fR(1)" % roff("-".join(path + [sub["commandName"]])), roff(sub.get("abstract", ""))]
    out += [".SH SEE ALSO", "\\fBacme\\fR(1); /usr/share/doc/acme-mail/"]
    return "\n".join(out) + "\n"


def walk(command, path, outdir, version, written):
    name = "-".join(path) + ".1"
    with open(os.path.join(outdir, name), "w") as f:
        f.write(page(command, path, version))
    written.append(name)
    for sub in command.get("subcommands", []):
        if sub.get("shouldDisplay", True) and sub["commandName"] != "help":
            walk(sub, path + [sub["commandName"]], outdir, version, written)


def main():
    outdir, version = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    tool = json.load(sys.stdin)["command"]
    written = []
    walk(tool, [tool.get("commandName", "acme")], outdir, version, written)
    print("\n".join(written))


if __name__ == "__main__":
    main()
