from rest_framework.routers import SimpleRouter

from estate.operations.api.views import OperationViewSet, ProviderConfigViewSet, RemediationPolicyViewSet

router = SimpleRouter()
router.register("operations", OperationViewSet, basename="operation")
router.register("remediation-policies", RemediationPolicyViewSet, basename="remediationpolicy")
router.register("provider-configs", ProviderConfigViewSet, basename="providerconfig")
