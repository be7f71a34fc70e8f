from __future__ import annotations

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from estate.inventory import services
from estate.inventory.choices import InstanceState
from estate.inventory.models import Image, Instance
from tests.factories import (
    BastionComponentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    InstanceFactory,
)

pytestmark = pytest.mark.django_db

BASTION_HAS_NO_IMAGES = "Only immutable components have images; a bastion is patched in a window."


def _image_data(component, **overrides) -> dict:
    return {"component": component, "version": "1.0.0", "reference": "ami-0123456789ab", **overrides}


# --- images ---------------------------------------------------------------------------------


def test_immutable_component_gets_an_image():
    component = ImmutableComponentFactory()
    image = services.image_create(data=_image_data(component))
    assert list(component.images.all()) == [image]
    component.refresh_from_db()
    assert component.current_image is None


def test_image_made_current_becomes_the_components_current_image():
    component = ImmutableComponentFactory()
    old = services.image_create(data=_image_data(component, version="1.0.0"), make_current=True)
    new = services.image_create(data=_image_data(component, version="1.1.0"), make_current=True)
    component.refresh_from_db()
    assert component.current_image == new
    assert set(component.images.all()) == {old, new}


def test_bastion_cannot_have_an_image():
    component = BastionComponentFactory()
    with pytest.raises(ValidationError) as caught:
        services.image_create(data=_image_data(component))
    assert caught.value.message_dict == {"component": [BASTION_HAS_NO_IMAGES]}
    assert not Image.objects.exists()


def test_bastion_cannot_have_an_image_made_current():
    component = BastionComponentFactory()
    with pytest.raises(ValidationError):
        services.image_create(data=_image_data(component), make_current=True)
    assert not Image.objects.exists()
    component.refresh_from_db()
    assert component.current_image is None


def test_image_version_is_unique_per_component():
    component = ImmutableComponentFactory()
    services.image_create(data=_image_data(component))
    with pytest.raises(ValidationError) as caught:
        services.image_create(data=_image_data(component, reference="ami-other"))
    assert caught.value.message_dict == {NON_FIELD_ERRORS: ["This component already has an image with this version."]}
    assert list(Image.objects.values_list("reference", flat=True)) == ["ami-0123456789ab"]


def test_same_image_version_is_allowed_on_another_component():
    services.image_create(data=_image_data(ImmutableComponentFactory()))
    services.image_create(data=_image_data(ImmutableComponentFactory()))
    assert Image.objects.filter(version="1.0.0").count() == 2


def test_refused_current_image_leaves_the_old_one_current():
    component = ImmutableComponentFactory()
    current = services.image_create(data=_image_data(component), make_current=True)
    with pytest.raises(ValidationError):
        services.image_create(data=_image_data(component), make_current=True)
    component.refresh_from_db()
    assert component.current_image == current


def test_database_refuses_duplicate_image_version():
    component = ImmutableComponentFactory()
    ImageFactory(component=component, version="1.0.0")
    other = ImageFactory(component=component, version="2.0.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.filter(pk=other.pk).update(version="1.0.0")
    other.refresh_from_db()
    assert other.version == "2.0.0"


# --- instances -------------------------------------------------------------------------------


def test_instance_runs_one_of_its_components_images():
    image = ImageFactory()
    instance = services.instance_save(data={"component": image.component, "external_id": "i-1", "image": image})
    assert Instance.objects.get(pk=instance.pk).image == image


def test_instance_cannot_run_another_components_image():
    component = ImmutableComponentFactory()
    foreign = ImageFactory()
    with pytest.raises(ValidationError) as caught:
        services.instance_save(data={"component": component, "external_id": "i-1", "image": foreign})
    assert caught.value.message_dict == {"image": ["The image must be one of this instance's component's images."]}
    assert not Instance.objects.exists()


def test_moving_an_instance_onto_another_components_image_is_refused():
    image = ImageFactory()
    instance = InstanceFactory(component=image.component, image=image)
    with pytest.raises(ValidationError) as caught:
        services.instance_save(instance=instance, data={"image": ImageFactory()})
    assert set(caught.value.message_dict) == {"image"}
    instance.refresh_from_db()
    assert instance.image == image


def test_instance_without_an_image_is_accepted():
    component = BastionComponentFactory()
    instance = services.instance_save(data={"component": component, "external_id": "db-node-1"})
    assert Instance.objects.get(pk=instance.pk).image is None


def test_tainted_instance_needs_a_reason():
    component = ImmutableComponentFactory()
    with pytest.raises(ValidationError) as caught:
        services.instance_save(data={"component": component, "external_id": "i-1", "tainted": True})
    assert caught.value.message_dict == {"taint_reason": ["Say why the instance is tainted."]}
    assert not Instance.objects.exists()


def test_tainting_an_instance_without_a_reason_writes_nothing():
    instance = InstanceFactory()
    with pytest.raises(ValidationError) as caught:
        services.instance_save(instance=instance, data={"tainted": True, "tainted_at": timezone.now()})
    assert set(caught.value.message_dict) == {"taint_reason"}
    instance.refresh_from_db()
    assert (instance.tainted, instance.tainted_at) == (False, None)


def test_tainted_instance_with_a_reason_is_saved():
    instance = InstanceFactory()
    services.instance_save(instance=instance, data={"tainted": True, "taint_reason": "ssh session by alice"})
    instance.refresh_from_db()
    assert (instance.tainted, instance.taint_reason) == (True, "ssh session by alice")


def test_database_refuses_tainted_instance_without_reason():
    instance = InstanceFactory()
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Instance.objects.filter(pk=instance.pk).update(tainted=True)
    assert "tainted_instance_has_reason" in str(caught.value)
    instance.refresh_from_db()
    assert instance.tainted is False


def test_database_refuses_clearing_the_reason_of_a_tainted_instance():
    instance = InstanceFactory(tainted=True, taint_reason="edited by hand")
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Instance.objects.filter(pk=instance.pk).update(taint_reason="")
    assert "tainted_instance_has_reason" in str(caught.value)


def test_external_id_is_unique_per_component():
    instance = InstanceFactory(external_id="i-1")
    with pytest.raises(ValidationError) as caught:
        services.instance_save(data={"component": instance.component, "external_id": "i-1"})
    assert caught.value.message_dict == {
        NON_FIELD_ERRORS: ["This component already has an instance with this external id."]
    }
    assert Instance.objects.count() == 1


def test_same_external_id_is_allowed_on_another_component():
    InstanceFactory(external_id="i-1")
    services.instance_save(data={"component": ImmutableComponentFactory(), "external_id": "i-1"})
    assert Instance.objects.filter(external_id="i-1").count() == 2


def test_instance_state_change_is_saved():
    instance = InstanceFactory()
    services.instance_save(instance=instance, data={"state": InstanceState.TERMINATED})
    assert Instance.objects.get(pk=instance.pk).state == InstanceState.TERMINATED
