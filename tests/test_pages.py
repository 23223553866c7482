"""docs/benchmarks.md is generated from the results files under benchmarks/ and kept up to date."""

import os

from posemoe_lab import pages


def test_page_is_up_to_date_with_the_results_files():
    with open(os.path.join(pages.REPO, pages.PAGE)) as f:
        committed = f.read()
    assert pages.render() == committed, "docs/benchmarks.md is stale: run python -m posemoe_lab.pages"


def test_every_row_has_a_command_a_date_and_a_machine():
    assert pages.problems() == []
    n = 0
    for area in pages.load_areas():
        for table in area["tables"]:
            for fig in table["figures"]:
                n += 1
                assert area["commands"][fig["command"]].strip()
                assert fig["date"][:4].isdigit(), fig
    assert n > 0


def test_values_read_from_other_results_files_resolve():
    for area in pages.load_areas():
        for table in area["tables"]:
            for fig in table["figures"]:
                assert pages.value_text(fig) not in ("", "None")


def test_page_links_resolve_to_sections():
    text = pages.render()
    for area in pages.load_areas():
        assert f"## {area['title']}" in text
        assert f"(#{pages.anchor(area['title'])})" in text
