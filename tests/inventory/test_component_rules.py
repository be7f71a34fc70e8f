from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from estate.core.errors import ApplicationError
from estate.inventory import services
from estate.inventory.choices import Category, ClusterRole, Engine, Mode, Provider
from estate.inventory.models import (
    BASTION_ONLY_FIELDS,
    IMMUTABLE_ONLY_FIELDS,
    STATEFUL_IMMUTABLE_MESSAGE,
    Component,
)
from tests.factories import (
    BastionComponentFactory,
    ClusterFactory,
    EnvironmentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

SLUG_TAKEN = "A component with this slug already exists in this environment."
STATEFUL_CATEGORIES = ["database", "cache", "queue", "object_store", "file_store"]


def _data(**overrides) -> dict:
    data = {
        "name": "orders-api",
        "slug": "orders-api",
        "environment": EnvironmentFactory(),
        "category": Category.SERVICE,
        "mode": Mode.IMMUTABLE,
        "provider": Provider.SANDBOX,
    }
    return {**data, **overrides}


def _bastion_data(**overrides) -> dict:
    bastion = {
        "name": "orders-db",
        "slug": "orders-db",
        "category": Category.DATABASE,
        "mode": Mode.BASTION,
        "holds_state": True,
        "provider": "",
        "engine": Engine.POSTGRESQL,
    }
    return _data(**{**bastion, **overrides})


def _staging():
    return EnvironmentFactory(name="Staging", slug="staging", is_production=False)


def _refused(**data) -> dict[str, list[str]]:
    """Create a component that must be refused; return the errors and check nothing was written."""
    before = Component.objects.count()
    with pytest.raises(ValidationError) as caught:
        services.component_create(data=data)
    assert Component.objects.count() == before
    return caught.value.message_dict


# --- holds state / mode ------------------------------------------------------------------


def test_stateful_component_cannot_be_immutable():
    with pytest.raises(ValidationError) as caught:
        services.component_create(data=_data(holds_state=True))
    assert caught.value.message_dict["mode"] == [STATEFUL_IMMUTABLE_MESSAGE]
    assert not Component.objects.exists()


def test_stateful_component_error_is_only_on_mode():
    errors = _refused(**_data(holds_state=True))
    assert set(errors) == {"mode"}


def test_stateful_component_can_be_a_bastion():
    component = services.component_create(data=_bastion_data())
    component.refresh_from_db()
    assert component.mode == Mode.BASTION
    assert component.holds_state is True


def test_stateless_component_can_be_a_bastion():
    component = services.component_create(
        data=_data(category=Category.SERVICE, mode=Mode.BASTION, provider="", engine=Engine.OTHER)
    )
    assert Component.objects.get(pk=component.pk).mode == Mode.BASTION


def test_making_an_existing_bastion_immutable_is_refused_when_it_holds_state():
    component = BastionComponentFactory(category=Category.SERVICE)
    bastion_fields = dict.fromkeys(("engine", "engine_version", "role"), "") | dict.fromkeys(
        ("patch_cadence_days", "expected_failover_seconds")
    )
    with pytest.raises(ValidationError) as caught:
        services.component_update(
            component=component,
            data={"mode": Mode.IMMUTABLE, "provider": Provider.SANDBOX, **bastion_fields},
        )
    assert caught.value.message_dict == {"mode": [STATEFUL_IMMUTABLE_MESSAGE]}
    component.refresh_from_db()
    assert component.mode == Mode.BASTION
    assert component.engine == Engine.POSTGRESQL


@pytest.mark.parametrize("category", STATEFUL_CATEGORIES)
def test_stateful_category_requires_holds_state(category):
    errors = _refused(**_bastion_data(category=category, holds_state=False))
    assert set(errors) == {"holds_state"}
    assert errors["holds_state"][0].endswith("holds state by definition; mark it as holding state.")


def test_stateful_category_message_names_the_category():
    errors = _refused(**_bastion_data(category=Category.OBJECT_STORE, holds_state=False))
    assert errors["holds_state"] == ["A object store holds state by definition; mark it as holding state."]


@pytest.mark.parametrize("category", ["service", "worker", "function", "container"])
def test_stateless_category_may_leave_holds_state_off(category):
    component = services.component_create(data=_data(category=category))
    assert Component.objects.get(pk=component.pk).holds_state is False


def test_stateful_category_reports_the_rule_it_breaks():
    errors = _refused(**_data(category=Category.CACHE, holds_state=True))
    assert errors == {"mode": [STATEFUL_IMMUTABLE_MESSAGE]}
    errors = _refused(**_data(category=Category.CACHE, holds_state=False))
    assert set(errors) == {"holds_state"}


# --- what each mode needs ----------------------------------------------------------------


def test_immutable_component_requires_provider():
    errors = _refused(**_data(provider=""))
    assert errors == {"provider": ["Required for an immutable component."]}


def test_bastion_component_requires_engine():
    errors = _refused(**_bastion_data(engine=""))
    assert errors == {"engine": ["Required for a bastion component."]}


IMMUTABLE_ONLY_VALUES = {
    "provider": Provider.AWS,
    "desired_instances": 3,
    "max_instance_age_days": 30,
    "ssh_enabled": True,
    "config_management_enabled": True,
}


def test_every_immutable_only_field_is_covered():
    assert set(IMMUTABLE_ONLY_FIELDS) == {*IMMUTABLE_ONLY_VALUES, "current_image"}


@pytest.mark.parametrize(("field", "value"), list(IMMUTABLE_ONLY_VALUES.items()))
def test_bastion_refuses_immutable_only_field(field, value):
    errors = _refused(**_bastion_data(**{field: value}))
    assert errors == {field: ["Only an immutable component has this; leave it empty for a bastion component."]}


@pytest.mark.parametrize("field", ["desired_instances", "max_instance_age_days"])
def test_bastion_refuses_immutable_only_number_even_when_zero(field):
    errors = _refused(**_bastion_data(**{field: 0}))
    assert "Only an immutable component has this; leave it empty for a bastion component." in errors[field]


def test_bastion_refuses_a_current_image():
    image = ImageFactory()
    errors = _refused(**_bastion_data(current_image=image))
    assert errors == {
        "current_image": ["Only an immutable component has this; leave it empty for a bastion component."]
    }


def test_bastion_update_refuses_immutable_only_field_and_writes_nothing():
    component = BastionComponentFactory()
    with pytest.raises(ValidationError) as caught:
        services.component_update(component=component, data={"ssh_enabled": True, "engine_version": "17.0"})
    assert set(caught.value.message_dict) == {"ssh_enabled"}
    component.refresh_from_db()
    assert component.ssh_enabled is False
    assert component.engine_version == "16.4"


BASTION_ONLY_VALUES = {
    "engine": Engine.POSTGRESQL,
    "engine_version": "16.4",
    "role": ClusterRole.PRIMARY,
    "patch_cadence_days": 30,
    "expected_failover_seconds": 20,
}


def test_every_bastion_only_field_is_covered():
    assert set(BASTION_ONLY_FIELDS) == {*BASTION_ONLY_VALUES, "cluster"}


@pytest.mark.parametrize(("field", "value"), list(BASTION_ONLY_VALUES.items()))
def test_immutable_refuses_bastion_only_field(field, value):
    errors = _refused(**_data(**{field: value}))
    assert errors == {field: ["Only a bastion component has this; leave it empty for an immutable component."]}


def test_immutable_refuses_bastion_only_number_even_when_zero():
    errors = _refused(**_data(expected_failover_seconds=0))
    assert errors == {
        "expected_failover_seconds": ["Only a bastion component has this; leave it empty for an immutable component."]
    }


def test_immutable_refuses_a_cluster():
    errors = _refused(**_data(cluster=ClusterFactory()))
    assert errors == {"cluster": ["Only a bastion component has this; leave it empty for an immutable component."]}


def test_immutable_component_with_every_immutable_field_is_created():
    component = services.component_create(data=_data(**IMMUTABLE_ONLY_VALUES))
    component.refresh_from_db()
    assert (component.provider, component.desired_instances, component.ssh_enabled) == (Provider.AWS, 3, True)


def test_bastion_with_every_bastion_field_is_created():
    cluster = ClusterFactory()
    component = services.component_create(data=_bastion_data(cluster=cluster, **BASTION_ONLY_VALUES))
    component.refresh_from_db()
    assert component.cluster == cluster
    assert component.role == ClusterRole.PRIMARY


# --- references ---------------------------------------------------------------------------


def test_current_image_must_belong_to_the_component():
    component = ImmutableComponentFactory()
    foreign_image = ImageFactory()
    with pytest.raises(ValidationError) as caught:
        services.component_update(component=component, data={"current_image": foreign_image})
    assert caught.value.message_dict == {"current_image": ["The current image must be one of this component's images."]}
    component.refresh_from_db()
    assert component.current_image is None


def test_new_component_cannot_start_on_another_components_image():
    errors = _refused(**_data(current_image=ImageFactory()))
    assert errors == {"current_image": ["The current image must be one of this component's images."]}


def test_current_image_of_the_component_itself_is_accepted():
    component = ImmutableComponentFactory()
    image = ImageFactory(component=component)
    services.component_update(component=component, data={"current_image": image})
    component.refresh_from_db()
    assert component.current_image == image


def test_cluster_must_be_in_the_same_environment():
    cluster = ClusterFactory(name="pg-staging", environment=_staging())
    errors = _refused(**_bastion_data(cluster=cluster))
    assert errors == {"cluster": ["Cluster pg-staging lives in Staging, not in this component's environment."]}


def test_cluster_in_the_same_environment_is_accepted():
    env = EnvironmentFactory()
    cluster = ClusterFactory(environment=env)
    component = services.component_create(data=_bastion_data(environment=env, cluster=cluster))
    assert list(cluster.members.all()) == [component]


def test_moving_a_clustered_bastion_to_another_environment_is_refused():
    cluster = ClusterFactory()
    component = BastionComponentFactory(cluster=cluster, environment=cluster.environment)
    with pytest.raises(ValidationError) as caught:
        services.component_update(component=component, data={"environment": _staging()})
    assert set(caught.value.message_dict) == {"cluster"}
    component.refresh_from_db()
    assert component.environment == cluster.environment


# --- slugs ---------------------------------------------------------------------------------


def test_slug_is_unique_per_environment():
    services.component_create(data=_data())
    errors = _refused(**_data(name="orders-api again"))
    assert errors == {"slug": [SLUG_TAKEN]}
    assert Component.objects.filter(slug="orders-api").count() == 1


def test_same_slug_is_allowed_in_another_environment():
    first = services.component_create(data=_data())
    second = services.component_create(data=_data(environment=_staging()))
    assert first.slug == second.slug
    assert Component.objects.filter(slug="orders-api").count() == 2


def test_renaming_onto_a_taken_slug_is_refused():
    ImmutableComponentFactory(slug="taken")
    component = ImmutableComponentFactory(slug="free")
    with pytest.raises(ValidationError) as caught:
        services.component_update(component=component, data={"slug": "taken"})
    assert caught.value.message_dict == {"slug": [SLUG_TAKEN]}
    component.refresh_from_db()
    assert component.slug == "free"


def test_saving_a_component_unchanged_does_not_clash_with_itself():
    component = ImmutableComponentFactory()
    services.component_update(component=component, data={"description": "still me"})
    component.refresh_from_db()
    assert component.description == "still me"


# --- dependencies and many-to-many ----------------------------------------------------------


def test_component_cannot_depend_on_itself():
    component = ImmutableComponentFactory()
    other = ImmutableComponentFactory()
    with pytest.raises(ValidationError) as caught:
        services.component_update(component=component, data={"depends_on": [other, component]})
    assert caught.value.message_dict == {"depends_on": ["A component cannot depend on itself."]}
    assert not component.depends_on.exists()


def test_dependencies_and_tags_are_saved_with_the_component():
    database = BastionComponentFactory()
    tag = TagFactory()
    component = services.component_create(data=_data(depends_on=[database], tags=[tag]))
    assert list(component.depends_on.all()) == [database]
    assert list(database.dependents.all()) == [component]
    assert list(component.tags.all()) == [tag]


def test_refused_create_writes_no_dependencies():
    database = BastionComponentFactory()
    _refused(**_data(holds_state=True, depends_on=[database]))
    assert not database.dependents.exists()


def test_refused_update_keeps_old_dependencies():
    component = ImmutableComponentFactory()
    old, new = BastionComponentFactory(), BastionComponentFactory()
    component.depends_on.set([old])
    with pytest.raises(ValidationError):
        services.component_update(component=component, data={"depends_on": [new], "provider": ""})
    assert list(Component.objects.get(pk=component.pk).depends_on.all()) == [old]


# --- bulk create ------------------------------------------------------------------------------


def test_bulk_create_creates_every_item():
    env = EnvironmentFactory()
    items = [_data(name=f"svc-{n}", slug=f"svc-{n}", environment=env) for n in range(3)]
    created = services.component_bulk_create(items=items)
    assert [c.slug for c in created] == ["svc-0", "svc-1", "svc-2"]
    assert set(Component.objects.values_list("slug", flat=True)) == {"svc-0", "svc-1", "svc-2"}


def test_bulk_create_is_all_or_nothing():
    env = EnvironmentFactory()
    items = [
        _data(name="good-0", slug="good-0", environment=env),
        _data(name="bad-1", slug="bad-1", environment=env, holds_state=True),
        _data(name="good-2", slug="good-2", environment=env),
    ]
    with pytest.raises(ApplicationError) as caught:
        services.component_bulk_create(items=items)
    assert caught.value.errors == {"1": {"mode": [STATEFUL_IMMUTABLE_MESSAGE]}}
    assert caught.value.message == "1 of 3 items are invalid; nothing was created."
    assert caught.value.status == 400
    assert not Component.objects.exists()


def test_bulk_create_reports_every_invalid_item_by_index():
    env = EnvironmentFactory()
    items = [
        _data(name="bad-0", slug="bad-0", environment=env, provider=""),
        _data(name="good-1", slug="good-1", environment=env),
        _bastion_data(name="bad-2", slug="bad-2", environment=env, engine=""),
    ]
    with pytest.raises(ApplicationError) as caught:
        services.component_bulk_create(items=items)
    assert caught.value.errors == {
        "0": {"provider": ["Required for an immutable component."]},
        "2": {"engine": ["Required for a bastion component."]},
    }
    assert not Component.objects.exists()


def test_bulk_create_catches_duplicate_slugs_within_the_batch():
    env = EnvironmentFactory()
    items = [
        _data(name="a", slug="dup", environment=env),
        _data(name="b", slug="other", environment=env),
        _data(name="c", slug="dup", environment=env),
    ]
    with pytest.raises(ApplicationError) as caught:
        services.component_bulk_create(items=items)
    assert caught.value.errors == {"2": {"slug": [SLUG_TAKEN]}}
    assert not Component.objects.exists()


def test_bulk_create_accepts_the_same_slug_in_two_environments():
    items = [_data(environment=EnvironmentFactory()), _data(environment=_staging())]
    services.component_bulk_create(items=items)
    assert Component.objects.filter(slug="orders-api").count() == 2


def test_bulk_create_catches_a_clash_with_an_existing_component():
    existing = ImmutableComponentFactory(slug="orders-api")
    with pytest.raises(ApplicationError) as caught:
        services.component_bulk_create(items=[_data(name="fresh", slug="fresh"), _data()])
    assert caught.value.errors == {"1": {"slug": [SLUG_TAKEN]}}
    assert list(Component.objects.all()) == [existing]


# --- the database holds the rules even past the model ------------------------------------------


def _violates(queryset, constraint: str | None = None, **values) -> None:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        queryset.update(**values)
    if constraint:
        assert constraint in str(caught.value)


def test_database_refuses_stateful_immutable_even_past_the_model():
    component = ImmutableComponentFactory()
    with pytest.raises(IntegrityError):
        Component.objects.filter(pk=component.pk).update(holds_state=True)


def test_database_refuses_stateful_immutable():
    component = ImmutableComponentFactory()
    _violates(Component.objects.filter(pk=component.pk), "stateful_component_is_bastion", holds_state=True)
    component.refresh_from_db()
    assert component.holds_state is False


def test_database_refuses_stateful_category_without_holds_state():
    component = BastionComponentFactory()
    _violates(Component.objects.filter(pk=component.pk), "stateful_category_holds_state", holds_state=False)


def test_database_refuses_immutable_without_provider():
    component = ImmutableComponentFactory()
    _violates(Component.objects.filter(pk=component.pk), "immutable_component_has_provider", provider="")


def test_database_refuses_bastion_without_engine():
    component = BastionComponentFactory()
    _violates(Component.objects.filter(pk=component.pk), "bastion_component_has_engine", engine="")


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, v in IMMUTABLE_ONLY_VALUES.items() if f != "provider"])
def test_database_refuses_immutable_only_field_on_bastion(field, value):
    component = BastionComponentFactory()
    _violates(
        Component.objects.filter(pk=component.pk),
        "immutable_only_fields_empty_on_bastion",
        **{field: value},
    )


def test_database_refuses_provider_on_bastion():
    component = BastionComponentFactory()
    _violates(Component.objects.filter(pk=component.pk), "immutable_only_fields_empty_on_bastion", provider="aws")


def test_database_refuses_current_image_on_bastion():
    component = BastionComponentFactory()
    image = ImageFactory()
    _violates(
        Component.objects.filter(pk=component.pk),
        "immutable_only_fields_empty_on_bastion",
        current_image=image,
    )


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, v in BASTION_ONLY_VALUES.items() if f != "engine"])
def test_database_refuses_bastion_only_field_on_immutable(field, value):
    component = ImmutableComponentFactory()
    _violates(
        Component.objects.filter(pk=component.pk),
        "bastion_only_fields_empty_on_immutable",
        **{field: value},
    )


def test_database_refuses_engine_on_immutable():
    component = ImmutableComponentFactory()
    _violates(Component.objects.filter(pk=component.pk), "bastion_only_fields_empty_on_immutable", engine="redis")


def test_database_refuses_cluster_on_immutable():
    component = ImmutableComponentFactory()
    _violates(
        Component.objects.filter(pk=component.pk),
        "bastion_only_fields_empty_on_immutable",
        cluster=ClusterFactory(),
    )


def test_database_refuses_duplicate_slug_in_one_environment():
    ImmutableComponentFactory(slug="taken")
    component = ImmutableComponentFactory(slug="free")
    _violates(Component.objects.filter(pk=component.pk), slug="taken")
    component.refresh_from_db()
    assert component.slug == "free"


def test_database_accepts_duplicate_slug_in_another_environment():
    ImmutableComponentFactory(slug="taken")
    component = ImmutableComponentFactory(slug="free", environment=_staging())
    Component.objects.filter(pk=component.pk).update(slug="taken")
    assert Component.objects.filter(slug="taken").count() == 2


# --- lost races end as a ValidationError, never an IntegrityError ----------------------------


def _wait_for_lock_waiter(timeout: float = 10.0) -> None:
    """Block until some other session of this database waits on a lock (the unique index)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail("the second writer never reached the database: its full_clean() must have refused it")


def _race(first, second) -> tuple[object, object]:
    """Run `first` in a transaction that stays open until `second` has passed full_clean() and is
    blocked on the database's unique index; then commit `first`. Returns both outcomes.

    READ COMMITTED hides first's uncommitted row from second's full_clean(), so both pass
    validation, and the second INSERT/UPDATE waits on the unique index until the first commits:
    the lost race, made deterministic.
    """
    outcomes: dict[str, object] = {}
    written = threading.Barrier(2, timeout=10)
    commit = threading.Event()

    def run(name, work, after_write):
        try:
            with transaction.atomic():
                outcomes[name] = work()
                after_write()
        except Exception as exc:  # the outcome under test, asserted by the caller
            outcomes[name] = exc
        finally:
            connection.close()

    def hold_then_commit():
        written.wait()
        assert commit.wait(timeout=10)

    winner = threading.Thread(target=run, args=("first", first, hold_then_commit))
    loser = threading.Thread(target=run, args=("second", lambda: (written.wait(), second())[1], lambda: None))
    winner.start()
    loser.start()
    try:
        _wait_for_lock_waiter()
    finally:
        commit.set()
        winner.join(timeout=15)
        loser.join(timeout=15)
    return outcomes["first"], outcomes["second"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_slug_leave_one_row_and_one_validation_error():
    env = EnvironmentFactory()
    first, second = _race(
        lambda: services.component_create(data=_data(environment=env, name="first")),
        lambda: services.component_create(data=_data(environment=env, name="second")),
    )
    assert isinstance(first, Component)
    assert isinstance(second, ValidationError), repr(second)
    assert second.message_dict == {"slug": [SLUG_TAKEN]}
    assert list(Component.objects.values_list("name", flat=True)) == ["first"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_renames_onto_one_slug_leave_one_winner_and_one_validation_error():
    a = ImmutableComponentFactory(slug="a")
    b = ImmutableComponentFactory(slug="b", environment=a.environment)
    first, second = _race(
        lambda: services.component_update(component=Component.objects.get(pk=a.pk), data={"slug": "wanted"}),
        lambda: services.component_update(component=Component.objects.get(pk=b.pk), data={"slug": "wanted"}),
    )
    assert isinstance(first, Component)
    assert isinstance(second, ValidationError), repr(second)
    assert second.message_dict == {"slug": [SLUG_TAKEN]}
    assert dict(Component.objects.values_list("pk", "slug")) == {a.pk: "wanted", b.pk: "b"}
