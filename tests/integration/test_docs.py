"""The documentation stays true to the code: every configuration key the server
knows is documented, and the README names the two commands."""
import os
import re

from conftest import ROOT


def config_keys():
    src = open(os.path.join(ROOT, "src", "core", "config.c")).read()
    table = src[src.index("static const struct key_def keys[]"):]
    table = table[:table.index("};")]
    return re.findall(r'\{"([a-z0-9_.]+)",', table)


def test_every_config_key_is_documented():
    keys = config_keys()
    assert len(keys) > 10
    doc = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    missing = [k for k in keys if "`%s`" % k not in doc]
    assert not missing, "undocumented keys: %s" % missing


def test_readme_names_the_two_commands():
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "make run" in readme and "make test" in readme
