"""Every kind of bad catalog is refused with the place it was written, and nothing is written."""

from __future__ import annotations

import pytest

from estate.catalog.errors import CatalogError
from estate.catalog.services import catalog_apply
from estate.catalog.spec import parse
from tests.catalog.conftest import BASE, HEAD, catalog_of, inventory_counts

pytestmark = pytest.mark.django_db


def refused(text: str, name: str = "catalog.yaml", **kwargs) -> CatalogError:
    """Parse and apply `text`; return the refusal after checking that nothing was written."""
    before = inventory_counts()
    with pytest.raises(CatalogError) as caught:
        catalog_apply(catalog=parse([(name, text.encode())], name=name), **kwargs)
    assert inventory_counts() == before
    return caught.value


def test_stateful_immutable_component_is_refused_at_its_line_and_key():
    text = BASE + "  - {slug: cache, environment: production, category: cache, mode: immutable, provider: aws}\n"
    error = refused(text)
    line = text.splitlines().index(
        "  - {slug: cache, environment: production, category: cache, mode: immutable, provider: aws}"
    )
    assert error.problems[0].place == f"catalog.yaml:{line + 1} components[2].mode"
    assert str(error).startswith(f"catalog.yaml:{line + 1} components[2].mode: A component that holds state cannot be")


def test_unknown_key_is_refused_by_its_name():
    error = refused(BASE + "    replicas: 3\n")
    assert "components[1].replicas" in error.problems[0].place
    assert "Unknown key 'replicas'" in error.problems[0].message


def test_unknown_top_level_section_and_wrong_version_are_refused():
    error = refused("apiVersion: estate/v2\nkind: Catalog\nservers: []\n")
    messages = " ".join(p.message for p in error.problems)
    assert "'estate/v1' was expected" in messages
    assert "Unknown key 'servers'" in messages


def test_duplicate_slug_names_the_first_place():
    error = refused(BASE + "  - {slug: cart-api, environment: production, category: worker, provider: aws}\n")
    assert "Duplicate component production/cart-api: already declared at catalog.yaml:" in error.problems[0].message


def test_the_same_slug_in_two_environments_is_two_components(base_catalog):
    text = base_catalog + "  - {slug: cart-api, environment: staging, category: service, provider: sandbox}\n"
    plan = catalog_apply(catalog=catalog_of(text))
    assert plan.summary()["create"] == 8 - 1  # 1 team, 2 environments, 1 system, 3 components


def test_duplicate_slug_across_files_of_a_folder_is_refused():
    files = [("a.yaml", BASE.encode()), ("b.yaml", (HEAD + "teams:\n  - {slug: web}\n").encode())]
    before = inventory_counts()
    with pytest.raises(CatalogError) as caught:
        parse(files)
    assert inventory_counts() == before
    assert caught.value.problems[0].source == "b.yaml"
    assert "already declared at a.yaml:4" in caught.value.problems[0].message


def test_dependency_cycle_is_refused_with_its_path():
    text = (
        HEAD
        + """\
environments: [{slug: production}]
components:
  - {slug: a, environment: production, category: service, provider: aws, dependsOn: [b]}
  - {slug: b, environment: production, category: service, provider: aws, dependsOn: [production/c]}
  - {slug: c, environment: production, category: service, provider: aws, dependsOn: [a]}
"""
    )
    error = refused(text)
    assert len(error.problems) == 1
    assert error.problems[0].message == ("Dependency cycle: production/a → production/b → production/c → production/a.")
    assert error.problems[0].place == "catalog.yaml:5 components[0].dependsOn"


def test_reference_to_nothing_is_refused():
    text = (
        BASE.replace("owner: web", "owner: webb")
        + "  - {slug: x, environment: prod, category: worker, provider: aws}\n"
    )
    error = refused(text)
    messages = [str(p) for p in error.problems]
    assert any("systems[0].owner: No team webb in the catalog or the inventory." in m for m in messages)
    assert any("components[2].environment: No environment prod" in m for m in messages)


def test_reference_to_a_row_that_a_prune_would_delete_is_refused(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    text = base_catalog.replace("  - {slug: web, name: Web}\n", "  - {slug: ops, name: Ops}\n")
    error = refused(text, prune=True)
    assert "No team web in the catalog or the inventory." in error.problems[0].message


def test_malformed_yaml_names_line_and_column():
    error = refused(HEAD + "teams:\n  - slug: web\n   name: Web\n")
    problem = error.problems[0]
    assert (problem.line, problem.column) == (5, 4)
    # libyaml's wording (PyYAML's own parser, used when libyaml is missing, says it differently).
    assert str(problem) in (
        "catalog.yaml:5:4: Malformed YAML: did not find expected '-' indicator",
        "catalog.yaml:5:4: Malformed YAML: expected <block end>, but found '<block mapping start>'",
    )


def test_a_key_written_twice_is_refused():
    error = refused(HEAD + "teams:\n  - slug: web\n    slug: ops\n")
    assert "The key 'slug' is written twice." in str(error)


def test_catalog_over_the_size_limit_is_refused_with_413(settings):
    settings.CATALOG_MAX_BYTES = 1000
    error = refused(BASE + "#" * 1000 + "\n")
    assert error.status == 413
    assert "at most 1000 are accepted (CATALOG_MAX_BYTES)" in error.message


def test_billion_laughs_stops_at_the_alias_bound(settings):
    settings.CATALOG_MAX_ALIASES = 20
    lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lol.append(f"{level}: &{level} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]")
    error = refused("\n".join(lol) + "\n")
    assert "YAML alias expansions (CATALOG_MAX_ALIASES)" in str(error)


def test_aliases_under_the_bound_still_cannot_expand_past_the_file_size(settings):
    settings.CATALOG_MAX_ALIASES = 10**9  # even unbounded aliases cannot make the file expand past its size
    lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lol.append(f"{level}: &{level} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]")
    error = refused("\n".join(lol) + "\n")
    assert "expands to too many values" in str(error)


def test_python_tags_are_refused_by_the_safe_loader():
    error = refused(HEAD + "teams:\n  - slug: !!python/object/apply:os.system ['true']\n")
    assert "Malformed YAML" in str(error)


def test_too_many_documents_are_refused(settings):
    settings.CATALOG_MAX_DOCUMENTS = 2
    error = refused((HEAD + "---\n") * 3)
    assert "More than 2 documents." in str(error)


def test_too_many_objects_are_refused(settings):
    settings.CATALOG_MAX_OBJECTS = 3
    error = refused(BASE)
    assert "More than 3 objects (CATALOG_MAX_OBJECTS)." in str(error)


def test_every_problem_is_reported_at_once():
    text = BASE.replace("provider: aws", "provider: ec2").replace("engine: postgresql", "engine: oracle")
    error = refused(text)
    assert len(error.problems) == 2
    assert [p.path for p in error.problems] == ["components[0].provider", "components[1].engine"]


def test_a_model_rule_met_only_at_write_time_rolls_everything_back(base_catalog):
    # The names are unique across the estate: a team row outside the catalog holds "Web" already.
    from tests.factories import TeamFactory

    TeamFactory(slug="old-web", name="Web")
    error = refused(base_catalog)
    assert error.problems[0].path == "teams[0].name"
    assert "already exists" in error.problems[0].message


def test_not_utf8_is_refused():
    before = inventory_counts()
    with pytest.raises(CatalogError, match="Not UTF-8"):
        parse([("c.yaml", b"\xff\xfe\x00bad")])
    assert inventory_counts() == before


def test_a_few_aliases_are_read_as_plain_values():
    text = (
        HEAD
        + """\
environments: [{slug: production}]
components:
  - {slug: a, environment: production, category: service, provider: aws, dependsOn: &deps [c]}
  - {slug: b, environment: production, category: service, provider: aws, dependsOn: *deps}
  - {slug: c, environment: production, category: service, provider: aws}
"""
    )
    plan = catalog_apply(catalog=catalog_of(text))
    assert plan.summary()["create"] == 4
