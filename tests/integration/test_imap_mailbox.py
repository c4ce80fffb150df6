"""IMAP mailbox commands against a real server: CREATE (CREATE-SPECIAL-USE),
DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST (patterns, LIST-EXTENDED,
LIST-STATUS, SPECIAL-USE), LSUB, NAMESPACE and STATUS, with their unhappy
paths: wrong state, bad syntax, missing and existing names, INBOX's rules,
names that must be refused, and modified UTF-7 / UTF-8 names."""
import time

import pytest

from imaputil import (Imap, Closed, code_of, imap_server, lists, login_imaplib, mutf7_encode, parse_list,
                      parse_status, status_of)

DEFAULT = {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"}


@pytest.fixture
def c(imap_server):
    cl = Imap(imap_server.imap_port)
    cl.login()
    yield cl
    cl.close()


def names(c, ref="", pat="*"):
    untagged, tagged = c.ok('LIST "%s" "%s"' % (ref, pat))
    return lists(untagged)


def expect(c, text, status, code=None):
    untagged, tagged = c.cmd(text)
    assert status_of(tagged) == status.encode(), (text, tagged)
    if code is not None:
        assert code_of(tagged) == code, (text, tagged)
    return untagged, tagged


def append(c, mailbox, body=b"Subject: t\r\n\r\nhello\r\n", flags=""):
    c.ok(b'APPEND "' + mailbox.encode() + b'" ' + (b"(" + flags.encode() + b") " if flags else b"") +
         b"{%d+}\r\n" % len(body) + body)


# ---------------- state and syntax ----------------

@pytest.mark.parametrize("command", [
    'CREATE x', 'DELETE x', 'RENAME x y', 'SUBSCRIBE x', 'UNSUBSCRIBE x', 'LIST "" *', 'LSUB "" *',
    'NAMESPACE', 'STATUS INBOX (MESSAGES)'])
def test_commands_need_login(imap_server, command):
    cl = Imap(imap_server.imap_port)
    untagged, tagged = cl.cmd(command)
    assert status_of(tagged) == b"BAD", tagged
    cl.login()
    assert "x" not in names(cl)


@pytest.mark.parametrize("command", [
    'CREATE', 'CREATE a b c', 'CREATE a (FOO)', 'CREATE a USE', 'CREATE a (USE \\Drafts)', 'DELETE', 'DELETE a b',
    'RENAME a', 'RENAME a b c', 'SUBSCRIBE', 'UNSUBSCRIBE', 'LIST', 'LIST ""', 'LIST "" * extra',
    'LIST "" * RETURN', 'LIST "" * RETURN CHILDREN', 'LIST "" ()', 'LIST (NOSUCH) "" *', 'LIST "" * RETURN (NOSUCH)',
    'LIST (RECURSIVEMATCH) "" *', 'LIST (REMOTE RECURSIVEMATCH) "" *', 'LIST "" * RETURN (STATUS (FOO))',
    'LIST "" * RETURN (STATUS ())', 'LIST "" * RETURN (STATUS)', 'LSUB ""', 'LSUB "" * x', 'NAMESPACE x',
    'STATUS', 'STATUS INBOX', 'STATUS INBOX ()', 'STATUS INBOX (FOO)', 'STATUS INBOX MESSAGES'])
def test_bad_syntax(c, command):
    expect(c, command, "BAD")
    # The session goes on.
    c.ok("NOOP")


def test_namespace_exact_bytes(c):
    untagged, tagged = c.ok("NAMESPACE")
    assert untagged == [b'* NAMESPACE (("" "/")) NIL NIL']


def test_list_empty_pattern_gives_the_delimiter(c):
    untagged, _ = c.ok('LIST "" ""')
    assert untagged == [b'* LIST (\\Noselect) "/" ""']
    untagged, _ = c.ok('LIST "Drafts" ""')
    assert untagged == [b'* LIST (\\Noselect) "/" ""']


# ---------------- CREATE ----------------

def test_default_mailboxes_with_special_use(c):
    got = names(c)
    assert set(got) == DEFAULT
    for name, use in [("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                      ("Archive", "\\Archive")]:
        assert use in got[name][0], got[name]
        assert "\\HasNoChildren" in got[name][0]
    assert got["INBOX"][0] == {"\\HasNoChildren"}


def test_create_then_list_and_select(c):
    c.ok("CREATE Projects")
    got = names(c)
    assert got["Projects"][0] == {"\\HasNoChildren"}
    untagged, tagged = c.ok("SELECT Projects")
    assert b"* 0 EXISTS" in untagged


def test_create_existing_and_inbox(c):
    c.ok("CREATE Projects")
    expect(c, "CREATE Projects", "NO", "ALREADYEXISTS")
    for n in ("INBOX", "inbox", "InBoX", '"INBOX/"'):
        expect(c, "CREATE " + n, "NO", "ALREADYEXISTS")
    expect(c, "CREATE Drafts", "NO", "ALREADYEXISTS")


def test_create_below_inbox(c):
    c.ok("CREATE inbox/Sub")
    got = names(c)
    assert "INBOX/Sub" in got
    assert "\\HasChildren" in got["INBOX"][0]


def test_create_makes_missing_parents(c):
    c.ok("CREATE a/b/c")
    got = names(c)
    assert {"a", "a/b", "a/b/c"} <= set(got)
    assert got["a"][0] == {"\\HasChildren"}
    assert got["a/b"][0] == {"\\HasChildren"}
    assert got["a/b/c"][0] == {"\\HasNoChildren"}
    c.ok("SELECT a/b")


def test_create_trailing_delimiter_is_a_declaration(c):
    c.ok('CREATE "Work/"')
    got = names(c)
    assert "Work" in got and "Work/" not in got
    expect(c, 'CREATE "Work/"', "NO", "ALREADYEXISTS")


@pytest.mark.parametrize("name", [
    '"a//b"', '"/a"', '"//"', '"/"', '"a//"', '"a*b"', '"a%"', '"*"', '""', '"' + "x" * 1001 + '"',
    '"' + "/".join(["l"] * 33) + '"'])
def test_create_refuses_bad_names(c, name):
    expect(c, "CREATE " + name, "NO", "CANNOT")
    assert set(names(c)) == DEFAULT


@pytest.mark.parametrize("raw", [b"a\x01b", b"a\x7fb", b"tab\there", b"c1\xc2\x85x"])
def test_create_refuses_control_characters(c, raw):
    # Sent as a literal (quoted strings may not hold every byte); as UTF-8.
    c.ok("ENABLE UTF8=ACCEPT")
    expect(c, b"CREATE {%d+}\r\n" % len(raw) + raw, "NO", "CANNOT")
    assert set(names(c)) == DEFAULT


def test_create_longest_name_and_deepest_hierarchy(c):
    long = "x" * 1000
    c.ok('CREATE "%s"' % long)
    deep = "/".join(["l%d" % i for i in range(32)])
    c.ok('CREATE "%s"' % deep)
    got = names(c)
    assert long in got and deep in got


def test_create_special_use(c):
    c.ok("CREATE MyTrash (USE (\\Trash))")
    c.ok("CREATE Plain (USE ())")
    c.ok("CREATE Old (use (\\archive))")
    got = names(c)
    assert "\\Trash" in got["MyTrash"][0]
    assert got["Plain"][0] == {"\\HasNoChildren"}
    assert "\\Archive" in got["Old"][0]
    for bad in ("(USE (\\Flagged))", "(USE (\\All))", "(USE (\\Bogus))", "(USE (\\Sent \\Trash))"):
        expect(c, "CREATE X " + bad, "NO", "USEATTR")
    assert "X" not in names(c)


def test_create_selected_state_allowed(c):
    c.ok("SELECT INBOX")
    c.ok("CREATE Other")
    untagged, _ = c.ok("NOOP")


# ---------------- names: modified UTF-7 and UTF-8 ----------------

def test_modified_utf7_round_trip(c):
    assert mutf7_encode("Entwürfe") == "Entw&APw-rfe"
    c.ok('CREATE "Entw&APw-rfe"')
    c.ok('CREATE "Tom &- Jerry"')
    c.ok('CREATE "&ZeVnLIqe-"')  # 日本語
    got = names(c)
    assert {"Entw&APw-rfe", "Tom &- Jerry", "&ZeVnLIqe-"} <= set(got)
    c.ok('SELECT "Entw&APw-rfe"')
    untagged, _ = c.ok('STATUS "Entw&APw-rfe" (MESSAGES)')
    assert parse_status(untagged[0])[0] == "Entw&APw-rfe"


def test_utf8_after_enable(imap_server):
    c = Imap(imap_server.imap_port)
    c.login()
    c.ok('CREATE "Entw&APw-rfe"')
    untagged, _ = c.ok("ENABLE UTF8=ACCEPT")
    assert untagged == [b"* ENABLED UTF8=ACCEPT"]
    got = names(c)
    assert "Entwürfe" in got
    c.ok('CREATE "Größe/日本語"'.encode())
    # What a UTF-8 session created, a modified UTF-7 session sees encoded.
    d = Imap(imap_server.imap_port)
    d.login()
    got = names(d)
    assert mutf7_encode("Größe") in got and mutf7_encode("Größe/日本語") in got
    d.ok(b'SELECT "' + mutf7_encode("Größe/日本語").encode() + b'"')
    # Under UTF8=ACCEPT the name "&-" is just "&-", not an escape.
    c.ok('CREATE "A&-B"')
    assert "A&-B" in names(c)
    assert mutf7_encode("A&-B") == "A&--B" and "A&--B" in names(d)


def test_raw_utf8_from_a_utf7_client_is_taken_as_utf8(c):
    c.ok('CREATE "Übersicht"'.encode())
    assert mutf7_encode("Übersicht") in names(c)


@pytest.mark.parametrize("bad", ['"&Jjo"', '"&AGE-"', '"&"', '"a&b"', '"&2D3c-"', '"&U,BTFw-&ZeVnLIqe-"'])
def test_invalid_modified_utf7_is_refused(c, bad):
    # Unterminated, encoded printable ASCII ("a"), bare '&', a lone surrogate,
    # two adjacent encoded runs (must be one): all not the one spelling.
    expect(c, "CREATE " + bad, "BAD")
    assert set(names(c)) == DEFAULT


def test_invalid_utf8_is_refused(c):
    c.ok("ENABLE UTF8=ACCEPT")
    raw = b"bad\xff\xfe"
    expect(c, b"CREATE {%d+}\r\n" % len(raw) + raw, "BAD")


# ---------------- DELETE ----------------

def test_delete(c):
    c.ok("CREATE Old")
    append(c, "Old")
    c.ok("DELETE Old")
    assert "Old" not in names(c)
    expect(c, "DELETE Old", "NO", "NONEXISTENT")
    expect(c, "SELECT Old", "NO", "NONEXISTENT")


def test_delete_inbox_and_invalid(c):
    expect(c, "DELETE INBOX", "NO", "CANNOT")
    expect(c, "DELETE inbox", "NO", "CANNOT")
    expect(c, 'DELETE "a//b"', "NO", "NONEXISTENT")
    expect(c, "DELETE Nope", "NO", "NONEXISTENT")


def test_delete_parent_keeps_children(imap_server):
    c = Imap(imap_server.imap_port)
    c.login()
    c.ok("CREATE p/q")
    c.ok("DELETE p")
    got = names(c)
    assert "p/q" in got and "p" not in got
    # '%' shows the level that now exists only as part of a name.
    untagged, _ = c.ok('LIST "" "%"')
    got = lists(untagged)
    assert got["p"][0] == {"\\Noselect", "\\HasChildren"}, got["p"]
    untagged, _ = c.ok('LIST () "" "%"')
    assert lists(untagged)["p"][0] == {"\\NonExistent", "\\HasChildren"}
    # IMAP4rev2 clients get \NonExistent.
    r = Imap(imap_server.imap_port)
    r.login()
    r.ok("ENABLE IMAP4rev2")
    untagged, _ = r.ok('LIST "" "%"')
    assert lists(untagged)["p"][0] == {"\\NonExistent", "\\HasChildren"}
    # The level is not a mailbox: DELETE and SELECT say so; CREATE makes it one.
    expect(c, "DELETE p", "NO", "NONEXISTENT")
    expect(c, "SELECT p", "NO", "NONEXISTENT")
    c.ok("CREATE p")
    assert names(c, pat="%")["p"][0] == {"\\HasChildren"}


def test_delete_removes_messages_and_new_incarnation_has_new_uidvalidity(c):
    c.ok("CREATE Box")
    untagged, _ = c.ok("STATUS Box (UIDVALIDITY)")
    uv1 = parse_status(untagged[0])[1]["UIDVALIDITY"]
    append(c, "Box")
    append(c, "Box")
    c.ok("DELETE Box")
    c.ok("CREATE Box")
    untagged, _ = c.ok("STATUS Box (MESSAGES UIDVALIDITY UIDNEXT)")
    st = parse_status(untagged[0])[1]
    assert st["MESSAGES"] == 0
    # RFC 9051 6.3.5: UIDs of the old incarnation are never reused under
    # the same UIDVALIDITY.
    assert st["UIDVALIDITY"] != uv1 or st["UIDNEXT"] > 2


def test_delete_selected_mailbox_in_this_session(c):
    c.ok("CREATE Sel")
    append(c, "Sel")
    c.ok("SELECT Sel")
    untagged, tagged = c.ok("DELETE Sel")
    assert any(r.startswith(b"* OK [CLOSED]") for r in untagged), untagged
    # Back in the authenticated state.
    expect(c, "FETCH 1 FLAGS", "BAD")
    c.ok("SELECT INBOX")


def test_delete_selected_mailbox_from_another_session(imap_server):
    a = Imap(imap_server.imap_port)
    a.login()
    a.ok("CREATE Shared")
    a.ok("SELECT Shared")
    b = Imap(imap_server.imap_port)
    b.login()
    b.ok("DELETE Shared")
    t = a.tag()
    a.send(t + " NOOP\r\n")
    got = []
    try:
        while True:
            got.append(a.response())
    except Closed:
        pass
    assert any(r.startswith(b"* BYE") for r in got), got


# ---------------- RENAME ----------------

def test_rename_moves_children(c):
    c.ok("CREATE a/x")
    append(c, "a/x")
    untagged, _ = c.ok("STATUS a/x (UIDVALIDITY MESSAGES)")
    before = parse_status(untagged[0])[1]
    c.ok("RENAME a b")
    got = names(c)
    assert {"b", "b/x"} <= set(got) and "a" not in got and "a/x" not in got
    untagged, _ = c.ok("STATUS b/x (UIDVALIDITY MESSAGES)")
    assert parse_status(untagged[0])[1] == before


def test_rename_errors(c):
    c.ok("CREATE one")
    c.ok("CREATE two")
    expect(c, "RENAME one two", "NO", "ALREADYEXISTS")
    expect(c, "RENAME nope three", "NO", "NONEXISTENT")
    expect(c, "RENAME one INBOX", "NO", "ALREADYEXISTS")
    expect(c, "RENAME one inbox", "NO", "ALREADYEXISTS")
    expect(c, "RENAME one one", "NO", "CANNOT")
    expect(c, "RENAME one one/sub", "NO", "CANNOT")
    for bad in ('"a//b"', '"x*"', '"%"', '""', '"/x"'):
        expect(c, "RENAME one " + bad, "NO", "CANNOT")
    assert {"one", "two"} <= set(names(c))


def test_rename_creates_missing_parents(c):
    c.ok("CREATE leaf")
    c.ok("RENAME leaf p/q/leaf")
    got = names(c)
    assert {"p", "p/q", "p/q/leaf"} <= set(got)
    assert "\\NonExistent" not in got["p"][0] and "\\Noselect" not in got["p"][0]


def test_rename_inbox_moves_messages(c):
    append(c, "INBOX")
    append(c, "INBOX")
    c.ok("CREATE INBOX/child")
    c.ok("RENAME INBOX Saved")
    got = names(c)
    assert {"INBOX", "Saved", "INBOX/child"} <= set(got)
    untagged, _ = c.ok("STATUS INBOX (MESSAGES)")
    assert parse_status(untagged[0])[1]["MESSAGES"] == 0
    untagged, _ = c.ok("STATUS Saved (MESSAGES)")
    assert parse_status(untagged[0])[1]["MESSAGES"] == 2
    c.ok("RENAME inbox Saved2")  # INBOX in any case


def test_rename_selected_mailbox_keeps_working(c):
    c.ok("CREATE Cur")
    append(c, "Cur")
    c.ok("SELECT Cur")
    c.ok("RENAME Cur Renamed")
    untagged, _ = c.ok("NOOP")
    assert not any(r.startswith(b"* BYE") for r in untagged)
    untagged, _ = c.ok("STATUS Renamed (MESSAGES)")
    assert parse_status(untagged[0])[1]["MESSAGES"] == 1


def test_rename_utf7(c):
    c.ok('CREATE "Entw&APw-rfe"')
    c.ok('RENAME "Entw&APw-rfe" "&ZeVnLIqe-"')
    got = names(c)
    assert "&ZeVnLIqe-" in got and "Entw&APw-rfe" not in got


# ---------------- SUBSCRIBE / UNSUBSCRIBE / LSUB ----------------

def test_subscribe_and_lsub(c):
    c.ok("CREATE Sub")
    c.ok("UNSUBSCRIBE Sub")
    untagged, _ = c.ok('LSUB "" "*"')
    assert "Sub" not in lists(untagged, "LSUB")
    c.ok("SUBSCRIBE Sub")
    c.ok("SUBSCRIBE Sub")  # again: still OK
    untagged, _ = c.ok('LSUB "" "*"')
    got = lists(untagged, "LSUB")
    assert got["Sub"][0] == set()
    c.ok("UNSUBSCRIBE Sub")
    c.ok("UNSUBSCRIBE Sub")  # not subscribed: still OK (RFC 9051 6.3.8)
    untagged, _ = c.ok('LSUB "" "*"')
    assert "Sub" not in lists(untagged, "LSUB")


def test_subscribe_missing_name_and_lsub_noselect(c):
    c.ok("SUBSCRIBE Ghost/Child")
    untagged, _ = c.ok('LSUB "" "*"')
    got = lists(untagged, "LSUB")
    assert got["Ghost/Child"][0] == {"\\Noselect"}
    assert "Ghost" not in got
    # '%' shows the level above a subscribed name (RFC 3501 6.3.9).
    untagged, _ = c.ok('LSUB "" "%"')
    got = lists(untagged, "LSUB")
    assert got["Ghost"][0] == {"\\Noselect"} and "Ghost/Child" not in got
    # Subscriptions are names: DELETE leaves them.
    c.ok("CREATE Temp")
    c.ok("SUBSCRIBE Temp")
    c.ok("DELETE Temp")
    untagged, _ = c.ok('LSUB "" Temp')
    assert lists(untagged, "LSUB")["Temp"][0] == {"\\Noselect"}


def test_subscribe_refuses_bad_names(c):
    for bad in ('"a//b"', '"x*"', '""', '"/a"'):
        expect(c, "SUBSCRIBE " + bad, "NO", "CANNOT")
    expect(c, 'SUBSCRIBE "&Jjo"', "BAD")
    c.ok('UNSUBSCRIBE "a//b"')


def test_lsub_reference_and_utf7(c):
    c.ok('SUBSCRIBE "Entw&APw-rfe/x"')
    untagged, _ = c.ok('LSUB "Entw&APw-rfe/" "%"')
    assert "Entw&APw-rfe/x" in lists(untagged, "LSUB")


# ---------------- LIST patterns ----------------

@pytest.fixture
def tree(c):
    for n in ("Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable/Broccoli", "Vegetable/Corn", "Fruitcake"):
        c.ok("CREATE " + n)
    return c


def test_list_percent_and_star(tree):
    top = names(tree, pat="%")
    assert set(top) == DEFAULT | {"Fruit", "Tofu", "Vegetable", "Fruitcake"}
    assert top["Fruit"][0] == {"\\HasChildren"}
    assert top["Tofu"][0] == {"\\HasNoChildren"}
    assert set(names(tree, pat="Fruit/%")) == {"Fruit/Apple", "Fruit/Banana"}
    assert set(names(tree, pat="Fruit*")) == {"Fruit", "Fruit/Apple", "Fruit/Banana", "Fruitcake"}
    assert set(names(tree, pat="Fruit%")) == {"Fruit", "Fruitcake"}
    assert set(names(tree, pat="%/%")) == {"Fruit/Apple", "Fruit/Banana", "Vegetable/Broccoli", "Vegetable/Corn"}
    # INBOX's own letters match in any case, so "o" matches its "O".
    assert set(names(tree, pat="*o*")) == {"INBOX", "Tofu", "Vegetable/Broccoli", "Vegetable/Corn"}
    assert names(tree, pat="*an*").keys() == {"Fruit/Banana"}
    assert names(tree, pat="nothing") == {}


def test_list_reference(tree):
    assert set(names(tree, ref="Fruit/", pat="%")) == {"Fruit/Apple", "Fruit/Banana"}
    # A pattern that starts with the delimiter is absolute (RFC 9051 6.3.9),
    # and no name here starts with one.
    assert names(tree, ref="Fruit", pat="/%") == {}
    assert set(names(tree, ref="Fruit", pat="%")) == {"Fruit", "Fruitcake"}
    assert set(names(tree, ref="Veg", pat="*/C*")) == {"Vegetable/Corn"}


def test_list_inbox_any_case(tree):
    for pat in ("inbox", "INBOX", "Inbox", "inb%", "*BOX"):
        assert set(names(tree, pat=pat)) == {"INBOX"}, pat


def test_list_multiple_patterns(tree):
    untagged, _ = tree.ok('LIST "" ("INBOX" "Drafts" "Fruit/%")')
    assert set(lists(untagged)) == {"INBOX", "Drafts", "Fruit/Apple", "Fruit/Banana"}
    # One response per name even when several patterns match it.
    untagged, _ = tree.ok('LIST "" ("Tofu" "T%" "*")')
    assert "Tofu" in lists(untagged)  # lists() refuses a second response for a name


def test_list_extended_return_options(tree):
    tree.ok("UNSUBSCRIBE Tofu")
    tree.ok("SUBSCRIBE Fruit")
    untagged, _ = tree.ok('LIST () "" "%" RETURN (CHILDREN SUBSCRIBED)')
    got = lists(untagged)
    assert got["Fruit"][0] == {"\\HasChildren", "\\Subscribed"}
    assert got["Tofu"][0] == {"\\HasNoChildren"}
    untagged, _ = tree.ok('LIST "" "Drafts" RETURN (SPECIAL-USE)')
    assert "\\Drafts" in lists(untagged)["Drafts"][0]


def test_list_subscribed_selection(tree):
    for n in ("Fruit", "Fruit/Apple", "Vegetable", "Vegetable/Corn", "Tofu", "Fruitcake"):
        tree.ok("UNSUBSCRIBE " + n)
    for n in DEFAULT:
        tree.ok("UNSUBSCRIBE " + n)
    tree.ok("SUBSCRIBE Fruit/Banana")
    tree.ok("SUBSCRIBE Vegetable/Broccoli")
    tree.ok("SUBSCRIBE Fruit/Peach")  # does not exist
    untagged, _ = tree.ok('LIST (SUBSCRIBED) "" "*"')
    got = lists(untagged)
    assert set(got) == {"Fruit/Banana", "Fruit/Peach", "Vegetable/Broccoli"}
    assert got["Fruit/Banana"][0] == {"\\Subscribed", "\\HasNoChildren"}
    assert got["Fruit/Peach"][0] == {"\\Subscribed", "\\NonExistent"}
    # Without RECURSIVEMATCH a parent that is not subscribed is not shown.
    untagged, _ = tree.ok('LIST (SUBSCRIBED) "" "%"')
    assert lists(untagged) == {}
    # With it, the parent comes with CHILDINFO (RFC 5258 example 8).
    untagged, _ = tree.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    got = lists(untagged)
    assert set(got) == {"Fruit", "Vegetable"}
    assert "\\Subscribed" not in got["Fruit"][0]
    assert got["Fruit"][1] == b'("CHILDINFO" ("SUBSCRIBED"))'
    # A subscribed parent with a subscribed child: both.
    tree.ok("SUBSCRIBE Vegetable")
    untagged, _ = tree.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    got = lists(untagged)
    assert "\\Subscribed" in got["Vegetable"][0] and got["Vegetable"][1] == b'("CHILDINFO" ("SUBSCRIBED"))'
    # A level that does not exist at all, with a subscribed name below it.
    tree.ok("SUBSCRIBE Ghost/Town")
    untagged, _ = tree.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Gh%"')
    got = lists(untagged)
    assert got["Ghost"][0] >= {"\\NonExistent"} and got["Ghost"][1] == b'("CHILDINFO" ("SUBSCRIBED"))'
    # REMOTE changes nothing here.
    untagged2, _ = tree.ok('LIST (REMOTE SUBSCRIBED RECURSIVEMATCH) "" "Gh%"')
    assert untagged2 == untagged


def test_list_special_use_selection(tree):
    tree.ok("CREATE Fruit/Bin (USE (\\Trash))")
    untagged, _ = tree.ok('LIST (SPECIAL-USE) "" "*"')
    got = lists(untagged)
    assert set(got) == {"Drafts", "Sent", "Trash", "Junk", "Archive", "Fruit/Bin"}
    assert "\\Trash" in got["Fruit/Bin"][0]
    untagged, _ = tree.ok('LIST (SPECIAL-USE RECURSIVEMATCH) "" "%"')
    got = lists(untagged)
    assert got["Fruit"][1] == b'("CHILDINFO" ("SPECIAL-USE"))'


def test_list_status(tree):
    append(tree, "Tofu", flags="\\Seen")
    append(tree, "Tofu")
    tree.ok("DELETE Vegetable")
    untagged, _ = tree.ok('LIST "" "%" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    # Each STATUS directly follows its LIST line; none for a missing level.
    seen = {}
    for i, r in enumerate(untagged):
        if r.startswith(b"* STATUS "):
            name, st = parse_status(r)
            prev = parse_list(untagged[i - 1])
            assert prev[3] == name
            seen[name] = st
    assert seen["Tofu"]["MESSAGES"] == 2 and seen["Tofu"]["UNSEEN"] == 1 and seen["Tofu"]["SIZE"] > 0
    assert seen["INBOX"] == {"MESSAGES": 0, "UNSEEN": 0, "SIZE": 0}
    assert "Vegetable" not in seen
    assert "\\NonExistent" in lists(untagged)["Vegetable"][0]


def test_list_hostile_patterns(c):
    for i in range(20):
        c.ok('CREATE "%s"' % ("a" * 200 + str(i)))
    pat = "*a" * 300 + "%b"
    t0 = time.time()
    untagged, _ = c.ok('LIST "" "%s"' % pat)
    assert time.time() - t0 < 5
    assert lists(untagged) == {}
    expect(c, 'LIST "" "%s"' % ("*" * 1025), "BAD")
    many = " ".join('"p%d"' % i for i in range(33))
    expect(c, 'LIST "" (%s)' % many, "BAD")


def test_list_utf8_output_after_enable(c):
    c.ok('CREATE "Entw&APw-rfe"')
    c.ok("ENABLE UTF8=ACCEPT")
    untagged, _ = c.ok('LIST "" "Entw*"')
    assert untagged == ['* LIST (\\HasNoChildren) "/" "Entwürfe"'.encode()]
    untagged, _ = c.ok('LIST "" "Entwü%"'.encode())
    assert len(untagged) == 1


# ---------------- STATUS ----------------

def test_status_items(c):
    c.ok("CREATE S")
    append(c, "S", flags="\\Seen")
    append(c, "S", flags="\\Deleted")
    append(c, "S", body=b"Subject: x\r\n\r\n" + b"y" * 1000 + b"\r\n")
    untagged, _ = c.ok("STATUS S (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)")
    name, st = parse_status(untagged[0])
    assert name == "S"
    assert st["MESSAGES"] == 3 and st["UIDNEXT"] == 4 and st["UNSEEN"] == 2 and st["DELETED"] == 1
    assert st["RECENT"] == 0 and st["UIDVALIDITY"] > 0 and st["HIGHESTMODSEQ"] > 0
    assert st["SIZE"] >= 1000 + 3 * 10
    untagged, _ = c.ok("status S (messages)")
    assert parse_status(untagged[0])[1] == {"MESSAGES": 3}


def test_status_errors_and_selected(c):
    expect(c, "STATUS Nope (MESSAGES)", "NO", "NONEXISTENT")
    expect(c, 'STATUS "a//b" (MESSAGES)', "NO", "NONEXISTENT")
    c.ok("SELECT INBOX")
    untagged, _ = c.ok("STATUS INBOX (MESSAGES UIDNEXT)")
    assert parse_status(untagged[0])[1] == {"MESSAGES": 0, "UIDNEXT": 1}
    untagged, _ = c.ok("STATUS inbox (MESSAGES)")
    assert parse_status(untagged[0])[0] == "INBOX"


def test_imaplib_client_flow(imap_server):
    m = login_imaplib(imap_server)
    typ, _ = m.create("Reports/2024")
    assert typ == "OK"
    typ, data = m.list('""', "Reports/*")
    assert typ == "OK" and any(b'"Reports/2024"' in d or d.endswith(b"Reports/2024") for d in data)
    typ, data = m.status("Reports/2024", "(MESSAGES UIDNEXT)")
    assert typ == "OK" and b"MESSAGES 0" in data[0]
    typ, _ = m.rename("Reports", "Archive2")
    assert typ == "OK"
    typ, _ = m.delete("Archive2/2024")
    assert typ == "OK"
    typ, data = m.lsub()
    assert typ == "OK"
    m.logout()
