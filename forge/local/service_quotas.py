"""Service Quotas in local mode: there is no AWS account, so there are no quotas to read.

moto 5.2 answers Service Quotas only for ServiceCode "vpc". Inventing SageMaker quotas would make the
pre-flight quota check a rubber stamp; instead each call (after local IAM authorized it: the runner guards
this object) says why it cannot be answered, and preflight reports the check as skipped with that reason.
`forge preflight --stack NAME` asks the deployed account.
"""

from __future__ import annotations

from typing import Any

NO_ACCOUNT = ("local mode has no AWS account to read SageMaker quotas from; `forge preflight --stack NAME` "
              "checks them against the deployed account")


class NoAccountQuotas:
    """The ``service-quotas`` client the handlers get in local mode (the operations preflight calls)."""

    def list_service_quotas(self, **_: Any) -> dict[str, Any]:
        from forge_handlers.aws.preflight_calls import QuotasUnavailable

        raise QuotasUnavailable(NO_ACCOUNT)

    list_aws_default_service_quotas = list_service_quotas
