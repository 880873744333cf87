"""The principals of a synthesized stack: each IAM role with its policy documents, resolved.

A role's identity policies are its inline ``Policies``, the ``AWS::IAM::Policy`` and customer-managed
``AWS::IAM::ManagedPolicy`` resources attached to it through ``Roles``, and ``ManagedPolicyArns`` that point
at such a managed policy. AWS-managed policy ARNs (``arn:aws:iam::aws:policy/...``) are recorded as
unknown: their documents are not in the template, so a request they might allow is refused loudly by the
enforcer instead of guessed (none of the pipeline's roles has one; cdk-nag's IAM4 keeps it so).
A permissions boundary would change every decision: it is refused.

References that local mode did not create (log groups, for instance) resolve to a placeholder that
matches nothing. In an Allow that can only deny more (those resources are never requested locally); in a
Deny it would hide a denial, so it is an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.local.cfn import ACCOUNT, Physical, Resolver, TemplateError, _bucket_name
from forge.local.iam.evaluator import PolicyError
from forge.local.iam.requests import StackFacts

AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"
UNRESOLVED = "<unresolved {}>"


@dataclass(frozen=True)
class Principal:
    """One IAM role as a caller. ``session`` is how AWS names the assumed-role session."""

    role_name: str
    role_arn: str
    policies: tuple[Mapping[str, Any], ...]
    unknown_managed: tuple[str, ...] = ()
    account: str = ACCOUNT

    def session_arn(self, session: str) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{session}"


@dataclass
class Principals:
    roles: dict[str, Principal]  # role ARN -> principal
    functions: dict[str, Principal]  # Lambda function name -> its execution role
    state_machine: Principal | None
    facts: StackFacts
    by_logical_id: dict[str, Principal] = field(default_factory=dict)

    def role(self, arn: str) -> Principal:
        if arn not in self.roles:
            raise PolicyError(
                f"role {arn} is not a role of the synthesized template; local mode cannot tell its policies"
            )
        return self.roles[arn]


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {value["Ref"]}
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _lenient(resolve: Resolver, value: Any) -> Any:
    """Resolve ``value``; a leaf that cannot be resolved becomes a placeholder that matches nothing."""
    try:
        return resolve(value)
    except TemplateError:
        if isinstance(value, list):
            return [_lenient(resolve, item) for item in value]
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return UNRESOLVED.format(json.dumps(value, sort_keys=True))
        if isinstance(value, dict):
            return {k: _lenient(resolve, v) for k, v in value.items()}
        raise


def _document(resolve: Resolver, document: Mapping[str, Any], where: str) -> dict[str, Any]:
    resolved = _lenient(resolve, document)
    statements = resolved.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") == "Deny" and "<unresolved " in json.dumps(statement):
            raise TemplateError(
                f"{where}: a Deny statement references resources local mode did not create: {statement}"
            )
    return resolved


def principals_from_template(
    template: Mapping[str, Any], resolve: Resolver, region: str, account: str = ACCOUNT
) -> Principals:
    resources: Mapping[str, Any] = template.get("Resources", {})
    by_type: dict[str, list[str]] = {}
    for logical, resource in resources.items():
        by_type.setdefault(resource["Type"], []).append(logical)
    attached: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}  # role logical id -> (where, document)
    managed_docs: dict[str, Mapping[str, Any]] = {}
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical in by_type.get(kind, []):
            props = resources[logical].get("Properties", {})
            if kind == "AWS::IAM::ManagedPolicy":
                managed_docs[logical] = props["PolicyDocument"]
            for role in _refs(props.get("Roles", [])):
                attached.setdefault(role, []).append((logical, props["PolicyDocument"]))
    principals: dict[str, Principal] = {}
    by_logical: dict[str, Principal] = {}
    for logical in by_type.get("AWS::IAM::Role", []):
        props = resources[logical].get("Properties", {})
        if "PermissionsBoundary" in props:
            raise PolicyError(
                f"role {logical} has a permissions boundary; the local evaluator does not model it"
            )
        documents = [
            (f"{logical} inline {p.get('PolicyName')}", p["PolicyDocument"])
            for p in props.get("Policies", [])
        ]
        documents += attached.get(logical, [])
        unknown = []
        for arn in props.get("ManagedPolicyArns", []):
            refs = _refs(arn)
            if refs and refs <= set(managed_docs):
                documents += [(ref, managed_docs[ref]) for ref in refs if ref not in dict(documents)]
                continue
            unknown.append(str(_lenient(resolve, arn)))
        arn = resolve({"Fn::GetAtt": [logical, "Arn"]})
        principal = Principal(
            role_name=resolve({"Ref": logical}),
            role_arn=arn,
            policies=tuple(_document(resolve, doc, where) for where, doc in documents),
            unknown_managed=tuple(unknown),
            account=account,
        )
        principals[arn] = by_logical[logical] = principal
    functions = {}
    for logical in by_type.get("AWS::Lambda::Function", []):
        role = _lenient(resolve, resources[logical].get("Properties", {}).get("Role"))
        if role in principals:
            functions[resolve({"Ref": logical})] = principals[role]
    machines = by_type.get("AWS::StepFunctions::StateMachine", [])
    machine_role = (
        _lenient(resolve, resources[machines[0]]["Properties"].get("RoleArn")) if machines else None
    )
    return Principals(
        roles=principals,
        functions=functions,
        state_machine=principals.get(machine_role) if machine_role else None,
        facts=stack_facts(resources, by_type, resolve, region, account),
        by_logical_id=by_logical,
    )


def _key_arn(value: Any, keys: Mapping[str, str], region: str, account: str) -> str | None:
    """A KMS key reference (ARN, key id or alias) -> the key ARN."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("arn:aws:kms:") and ":key/" in value:
        return value
    if value in keys:
        return keys[value]
    raise TemplateError(
        f"KMS key reference {value!r} (an alias or external key) is not modelled in local mode"
    )


def stack_facts(
    resources: Mapping[str, Any],
    by_type: Mapping[str, list[str]],
    resolve: Resolver,
    region: str,
    account: str,
) -> StackFacts:
    keys = {}
    for logical in by_type.get("AWS::KMS::Key", []):
        keys[resolve({"Ref": logical})] = resolve({"Fn::GetAtt": [logical, "Arn"]})
    bucket_keys = {}
    for logical in by_type.get("AWS::S3::Bucket", []):
        encryption = resources[logical].get("Properties", {}).get("BucketEncryption", {})
        for rule in encryption.get("ServerSideEncryptionConfiguration", []):
            default = rule.get("ServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
                key = _key_arn(resolve(default.get("KMSMasterKeyID")), keys, region, account)
                if key is None:
                    raise TemplateError(
                        f"bucket {logical} uses SSE-KMS with the AWS-managed key; not modelled"
                    )
                bucket_keys[resolve({"Ref": logical})] = key
    topic_keys = {}
    for logical in by_type.get("AWS::SNS::Topic", []):
        key = _key_arn(
            resolve(resources[logical].get("Properties", {}).get("KmsMasterKeyId")), keys, region, account
        )
        if key:
            topic_keys[resolve({"Ref": logical})] = key
    return StackFacts(region=region, account=account, bucket_keys=bucket_keys, topic_keys=topic_keys)


def offline_physicals(template: Mapping[str, Any], stack_name: str, region: str) -> dict[str, Physical]:
    """Made-up physical names for a template's runtime resources (tests; no moto needed)."""
    physical = {}
    for logical, resource in template.get("Resources", {}).items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            name = (
                props.get("RoleName") if isinstance(props.get("RoleName"), str) else f"{stack_name}-{logical}"
            )
            physical[logical] = Physical(name, {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"})
        elif kind == "AWS::S3::Bucket":
            name = _bucket_name(stack_name, logical)
            physical[logical] = Physical(name, {"Arn": f"arn:aws:s3:::{name}"})
        elif kind == "AWS::KMS::Key":
            arn = f"arn:aws:kms:{region}:{ACCOUNT}:key/{logical.lower()}"
            physical[logical] = Physical(logical.lower(), {"Arn": arn, "KeyId": logical.lower()})
        elif kind == "AWS::SNS::Topic":
            arn = f"arn:aws:sns:{region}:{ACCOUNT}:{stack_name}-{logical}"
            physical[logical] = Physical(arn, {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]})
        elif kind == "AWS::Lambda::Function":
            name = props.get("FunctionName") if isinstance(props.get("FunctionName"), str) else logical
            physical[logical] = Physical(name, {"Arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"})
        elif kind == "AWS::StepFunctions::StateMachine":
            arn = f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{stack_name}-pipeline"
            physical[logical] = Physical(arn, {"Arn": arn, "Name": f"{stack_name}-pipeline"})
    return physical
