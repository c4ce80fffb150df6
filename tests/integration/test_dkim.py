"""DKIM as an administrator meets it: `roost dkim keygen` writes a private key
and prints the TXT record to publish, and every message `roost dkim sign`
signs verifies with an independent verifier (dkimpy) that is given exactly
that record as the DNS answer, for rsa-sha256 and ed25519-sha256, over the
whole test corpus. No server is started."""
import os
import re
import stat
import tempfile

import dkim
import pytest

from conftest import CORPUS, SANITIZER_MARKS, corpus_files, run_cli

RECORD = re.compile(r'^([a-z0-9-]+)\._domainkey\.([a-z0-9.-]+)\. IN TXT((?: "[^"]{1,255}")+)$')


@pytest.fixture
def data(base_tmp):
    return os.path.join(tempfile.mkdtemp(prefix="dkim-", dir=base_tmp), "var")


def cli(data, *args, input=None, check=True):
    p = run_cli(data, *args, input=input, check=check)
    err = p.stderr.decode(errors="replace")
    for mark in SANITIZER_MARKS:
        assert mark not in err, err
    return p


def parse_record(out):
    """The record line of keygen's or record's output: (selector, domain, TXT value)."""
    lines = [l for l in out.decode().splitlines() if not l.startswith(";")]
    assert len(lines) == 1, out
    m = RECORD.match(lines[0])
    assert m, lines[0]
    value = "".join(re.findall(r'"([^"]*)"', m.group(3)))
    return m.group(1), m.group(2), value


def keygen(data, domain, *opts):
    p = cli(data, "dkim", "keygen", domain, *opts)
    return parse_record(p.stdout)


def dns_for(records):
    def dnsfunc(name, timeout=5):
        return records.get(name.decode() if isinstance(name, bytes) else name)
    return dnsfunc


def tags(value):
    return dict(t.strip().split("=", 1) for t in value.split(";") if t.strip())


def has_from(raw):
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    return re.search(rb"(?im)^from[ \t]*:", head) is not None


def lenient_parse(message):
    """dkimpy's rfc822_parse, except that it skips a header line without a
    colon and takes a name followed by whitespace before the colon (obsolete
    RFC 5322 syntax) instead of refusing the message, as the signer does."""
    headers = []
    lines = re.split(rb"\r?\n", message)
    i = 0
    while i < len(lines):
        if len(lines[i]) == 0:
            i += 1
            break
        if lines[i][:1] in (b"\t", b" ") and headers:
            headers[-1][1] += lines[i] + b"\r\n"
        else:
            m = re.match(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:", lines[i])
            if m is not None:
                headers.append([m.group(1), lines[i][m.end(0):] + b"\r\n"])
        i += 1
    return headers, b"\r\n".join(lines[i:])


def verify(msg, dns, monkeypatch=None):
    """dkimpy's verdict; messages its parser refuses are parsed leniently."""
    try:
        return dkim.verify(msg, dnsfunc=dns)
    except dkim.MessageFormatError:
        if monkeypatch is None:
            raise
    with monkeypatch.context() as m:
        m.setattr(dkim, "rfc822_parse", lenient_parse)
        return dkim.verify(msg, dnsfunc=dns)


def test_keygen_writes_a_private_key_and_prints_the_record(data):
    sel, dom, value = keygen(data, "example.com")
    assert (sel, dom) == ("roost", "example.com")
    t = tags(value)
    assert t["v"] == "DKIM1" and t["k"] == "rsa"
    assert len(t["p"]) > 300  # 2048-bit SubjectPublicKeyInfo
    path = os.path.join(data, "dkim", "example.com.roost.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path) as f:
        assert f.read().startswith("-----BEGIN PRIVATE KEY-----")
    # record prints the same record again.
    assert parse_record(cli(data, "dkim", "record", "example.com").stdout) == (sel, dom, value)


def test_keygen_ed25519_and_selector(data):
    sel, dom, value = keygen(data, "Mail.Example.ORG", "--type", "ed25519", "--selector", "s2026")
    assert (sel, dom) == ("s2026", "mail.example.org")
    t = tags(value)
    assert t["k"] == "ed25519" and len(t["p"]) == 44
    assert os.path.exists(os.path.join(data, "dkim", "mail.example.org.s2026.key"))


def test_keygen_never_replaces_a_key(data):
    keygen(data, "example.com")
    path = os.path.join(data, "dkim", "example.com.roost.key")
    before = open(path).read()
    p = cli(data, "dkim", "keygen", "example.com", "--type", "ed25519", check=False)
    assert p.returncode == 1
    err = p.stderr.decode().splitlines()
    assert len(err) == 1 and err[0].startswith("roost: ") and "already exists" in err[0]
    assert open(path).read() == before


@pytest.mark.parametrize("args", [
    ["dkim", "keygen", "../etc"],
    ["dkim", "keygen", "example.com", "--selector", "a.b"],
    ["dkim", "keygen", "example.com", "--type", "dsa"],
    ["dkim", "keygen"],
    ["dkim", "frob", "example.com"],
    ["dkim", "list", "example.com"],
    ["dkim", "list", "--type", "rsa"],
])
def test_usage_errors(data, args):
    p = cli(data, *args, check=False)
    assert p.returncode == 2
    err = p.stderr.decode().splitlines()
    assert len(err) == 1 and err[0].startswith("roost: "), p.stderr


def test_list_says_which_key_signs(data):
    assert cli(data, "dkim", "list").stdout == b""
    keygen(data, "example.com")
    keygen(data, "example.com", "--type", "ed25519", "--selector", "next")
    keygen(data, "example.net", "--type", "ed25519")
    lines = cli(data, "dkim", "list").stdout.decode().splitlines()
    assert lines == [
        "example.com\tnext\ted25519\tunused",
        "example.com\troost\trsa\tsigning",
        "example.net\troost\ted25519\tsigning",
    ]


def test_sign_without_a_key_or_from(data):
    p = cli(data, "dkim", "sign", "example.com", input=b"From: a@example.com\r\n\r\nx\r\n", check=False)
    assert p.returncode == 1 and b"no key for example.com" in p.stderr
    keygen(data, "example.com", "--type", "ed25519")
    p = cli(data, "dkim", "sign", "example.com", input=b"To: b@example.org\r\n\r\nx\r\n", check=False)
    assert p.returncode == 65 and b"From" in p.stderr
    assert p.stdout == b""


def test_tampering_breaks_the_signature(data):
    sel, dom, value = keygen(data, "example.com")
    dns = dns_for({"%s._domainkey.%s." % (sel, dom): value.encode()})
    msg = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: pay 10\r\n\r\nhello\r\n"
    signed = cli(data, "dkim", "sign", "example.com", input=msg).stdout
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"pay 10", b"pay 99"), dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"hello", b"hellO"), dnsfunc=dns)
    # A second From added on the way does not verify (From is oversigned).
    head, body = signed.split(b"\r\n\r\n", 1)
    assert not dkim.verify(head + b"\r\nFrom: mallory@example.net\r\n\r\n" + body, dnsfunc=dns)
    # Relaxed canonicalization survives what relays do to whitespace.
    assert dkim.verify(signed.replace(b"Subject: pay 10", b"Subject:   pay \t10 "), dnsfunc=dns)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_corpus_verifies_with_dkimpy(data, kind, monkeypatch):
    sel, dom, value = keygen(data, "example.com", "--type", kind)
    dns = dns_for({"%s._domainkey.%s." % (sel, dom): value.encode()})
    files = corpus_files()
    assert files
    signed_count = 0
    failures = []
    for name in files:
        raw = open(os.path.join(CORPUS, name), "rb").read()
        p = cli(data, "dkim", "sign", "example.com", input=raw, check=False)
        if not has_from(raw):
            assert p.returncode == 65, (name, p.stderr)
            continue
        assert p.returncode == 0, (name, p.stderr)
        out = p.stdout
        assert out.startswith(b"DKIM-Signature: v=1; a=%s-sha256;" % kind.encode()), name
        try:
            ok = verify(out, dns, monkeypatch)
        except Exception as e:
            ok = "%s: %s" % (type(e).__name__, e)
        if ok is not True:
            failures.append((name, ok))
        signed_count += 1
    assert not failures, failures
    assert signed_count >= 80


def test_sign_picks_the_from_domain(data):
    """Without DOMAIN, sign uses the key of the From domain, as the queue does."""
    sel, dom, value = keygen(data, "example.net", "--type", "ed25519")
    dns = dns_for({"%s._domainkey.%s." % (sel, dom): value.encode()})
    msg = b'From: "Bob, the builder" <bob@EXAMPLE.net>\nTo: a@example.com\nSubject: lf only\n\nbody\n'
    signed = cli(data, "dkim", "sign", input=msg).stdout
    assert b"d=example.net;" in signed
    assert signed.endswith(b"From: \"Bob, the builder\" <bob@EXAMPLE.net>\r\nTo: a@example.com\r\n"
                           b"Subject: lf only\r\n\r\nbody\r\n")
    assert verify(signed, dns)
    p = cli(data, "dkim", "sign", input=b"From: x@example.org\r\n\r\nx\r\n", check=False)
    assert p.returncode == 1 and b"no key for example.org" in p.stderr
    p = cli(data, "dkim", "sign", input=b"From: nobody\r\n\r\nx\r\n", check=False)
    assert p.returncode == 65 and len(p.stderr.splitlines()) == 1

