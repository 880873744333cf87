"""The local IAM evaluator as tables: each row would fail on a plausible wrong evaluator (noted per row)."""

from __future__ import annotations

import pytest

from forge.local.iam.evaluator import Decision, PolicyError, arn_match, evaluate, glob_match

BUCKET = "arn:aws:s3:::forge-artifacts"


def allow(action, resource, condition=None, **extra):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action, resource, condition=None):
    statement = {"Effect": "Deny", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(
    ("pattern", "value", "ignore_case", "expected"),
    [
        ("s3:Get*", "s3:GetObject", True, True),
        ("s3:get*", "s3:GetObject", True, True),  # actions are case-insensitive
        ("s3:Get?bject", "s3:GetObject", True, True),  # ? is one character
        ("s3:Get?bject", "s3:GetObjject", True, False),
        ("a.b", "aXb", False, False),  # a dot is a dot, not a regex wildcard (moto's bug)
        ("runs/*", "runs/", False, True),
        ("runs/*", "Runs/x", False, False),  # resources are case-sensitive
        ("code/(x)+", "code/(x)+", False, True),  # regex metacharacters are literal
    ],
)
def test_glob(pattern, value, ignore_case, expected):
    assert glob_match(pattern, value, ignore_case=ignore_case) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (
            "arn:aws:ecr:us-east-1:*:repository/pytorch-training",
            "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-training",
            True,
        ),
        # a * in one segment does not swallow the colons after it
        ("arn:aws:sagemaker:*:training-job/x", "arn:aws:sagemaker:us-east-1:1:training-job/x", False),
        (
            "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/*",
            "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/TrainingJobs:log-stream:x",
            True,
        ),
        ("*", "arn:aws:s3:::anything", True),
    ],
)
def test_arn_match(pattern, value, expected):
    assert arn_match(pattern, value) is expected


LISTING = allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": ["runs/*"]}})
OBJECTS = allow(["s3:GetObject", "s3:PutObject"], f"{BUCKET}/runs/*")


@pytest.mark.parametrize(
    ("policies", "action", "resource", "context", "expected"),
    [
        ([policy(OBJECTS)], "s3:GetObject", f"{BUCKET}/runs/r1/a.json", {}, Decision.ALLOW),
        ([policy(OBJECTS)], "s3:GetObject", f"{BUCKET}/code/sft.py", {}, Decision.IMPLICIT_DENY),
        ([policy(OBJECTS)], "S3:GETOBJECT", f"{BUCKET}/runs/x", {}, Decision.ALLOW),
        # the listing grant: the prefix condition decides
        ([policy(LISTING)], "s3:ListBucket", BUCKET, {"s3:prefix": "runs/r1/"}, Decision.ALLOW),
        ([policy(LISTING)], "s3:ListBucket", BUCKET, {"s3:prefix": "code/"}, Decision.IMPLICIT_DENY),
        ([policy(LISTING)], "s3:ListBucket", BUCKET, {}, Decision.IMPLICIT_DENY),  # absent key: false
        # an Allow whose condition fails is not a Deny: another statement still allows (moto's bug)
        (
            [policy(LISTING, allow("s3:ListBucket", BUCKET))],
            "s3:ListBucket",
            BUCKET,
            {"s3:prefix": "code/"},
            Decision.ALLOW,
        ),
        # explicit deny wins, across policies too
        (
            [policy(OBJECTS), policy(deny("s3:*", f"{BUCKET}/runs/secret/*"))],
            "s3:GetObject",
            f"{BUCKET}/runs/secret/k",
            {},
            Decision.EXPLICIT_DENY,
        ),
        (
            [policy(OBJECTS), policy(deny("s3:*", f"{BUCKET}/runs/secret/*"))],
            "s3:GetObject",
            f"{BUCKET}/runs/open/k",
            {},
            Decision.ALLOW,
        ),
        # NotAction / NotResource
        (
            [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
            "iam:PassRole",
            "*",
            {},
            Decision.IMPLICIT_DENY,
        ),
        (
            [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
            "sns:Publish",
            "t",
            {},
            Decision.ALLOW,
        ),
        (
            [policy({"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/code/*"})],
            "s3:GetObject",
            f"{BUCKET}/code/x",
            {},
            Decision.IMPLICIT_DENY,
        ),
        (
            [policy({"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/code/*"})],
            "s3:GetObject",
            f"{BUCKET}/runs/x",
            {},
            Decision.ALLOW,
        ),
        # a Deny with a NotResource: everything outside it is denied
        (
            [policy(allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": f"{BUCKET}/*"})],
            "s3:GetObject",
            "arn:aws:s3:::other/x",
            {},
            Decision.EXPLICIT_DENY,
        ),
        ([], "s3:GetObject", f"{BUCKET}/runs/x", {}, Decision.IMPLICIT_DENY),
        # a single statement object (not a list) is a valid policy
        ([{"Statement": OBJECTS}], "s3:PutObject", f"{BUCKET}/runs/x", {}, Decision.ALLOW),
    ],
)
def test_decisions(policies, action, resource, context, expected):
    assert evaluate(policies, action, resource, context).decision is expected


PASS_ROLE = "arn:aws:iam::123456789012:role/sm"


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        (
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
            True,
        ),
        (
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            {"iam:PassedToService": "lambda.amazonaws.com"},
            False,
        ),
        # condition keys are case-insensitive, values are not
        (
            {"StringEquals": {"IAM:passedtoservice": "sagemaker.amazonaws.com"}},
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
            True,
        ),
        ({"StringEquals": {"k": "Value"}}, {"k": "value"}, False),
        ({"StringEqualsIgnoreCase": {"k": "Value"}}, {"k": "value"}, True),
        # values of one key OR; keys of one operator AND; operators AND
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": "a", "j": "x"}, False),
        ({"StringEquals": {"k": "a"}, "StringLike": {"j": "b*"}}, {"k": "a", "j": "bc"}, True),
        ({"StringEquals": {"k": "a"}, "StringLike": {"j": "b*"}}, {"k": "a", "j": "cb"}, False),
        # negated operators: true when nothing matches, and when the key is absent
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "c"}, True),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "a"}, False),
        ({"StringNotEquals": {"k": "a"}}, {}, True),
        ({"StringNotLike": {"k": "runs/*"}}, {"k": "code/"}, True),
        ({"StringNotLike": {"k": "runs/*"}}, {"k": "runs/x"}, False),
        # IfExists: an absent key passes; a present one is compared
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"StringLike": {"k": "a"}}, {}, False),
        # ARN operators are per-segment globs, ArnEquals included
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:123456789012:training-job/forge*"}},
            {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/forge-x"},
            True,
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:sagemaker:*:123456789012:training-job/forge*"}},
            {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:999999999999:training-job/forge-x"},
            False,
        ),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::b/*"}}, {"aws:SourceArn": "arn:aws:s3:::c/x"}, True),
        # Bool and Null
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": True}, False),
        ({"Null": {"aws:RequestTag/team": "true"}}, {}, True),
        ({"Null": {"aws:RequestTag/team": "true"}}, {"aws:RequestTag/team": "x"}, False),
        ({"Null": {"aws:RequestTag/team": "false"}}, {"aws:RequestTag/team": "x"}, True),
        # numbers compare as numbers, not strings ("10" < "9" as text)
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, True),
        ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, False),
        ({"NumericEquals": {"n": "1"}}, {"n": "1.0"}, True),
        # multivalued keys with set qualifiers
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}}, {"aws:TagKeys": ["x", "env"]}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {"aws:TagKeys": ["x", "env"]}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {}, False),
        (
            {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}},
            {"aws:TagKeys": ["team", "env"]},
            True,
        ),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {"aws:TagKeys": ["team", "env"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {}, True),  # vacuously true
        (
            {"ForAllValues:StringLike": {"aws:TagKeys": ["forge:*"]}},
            {"aws:TagKeys": ["forge:a", "forge:b"]},
            True,
        ),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}}, {"aws:TagKeys": ["team", "x"]}, True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["team"]}}, {"aws:TagKeys": ["team", "x"]}, False),
    ],
)
def test_conditions(condition, context, expected):
    statement = allow("iam:PassRole", PASS_ROLE, condition)
    decision = evaluate([policy(statement)], "iam:PassRole", PASS_ROLE, context).decision
    assert (decision is Decision.ALLOW) is expected


@pytest.mark.parametrize(
    ("statement", "context", "message"),
    [
        (
            allow("s3:GetObject", "*", {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}),
            {},
            "DateGreaterThan",
        ),
        (allow("s3:GetObject", "*", {"StringEqualz": {"k": "a"}}), {}, "StringEqualz"),
        (allow("s3:GetObject", "*", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), {}, "IpAddress"),
        (allow("s3:GetObject", "*", {"NullIfExists": {"k": "true"}}), {}, "Null"),
        (allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"), {}, "policy variables"),
        (
            allow("s3:GetObject", "*", {"StringEquals": {"aws:TagKeys": "a"}}),
            {"aws:TagKeys": ["a"]},
            "multivalued",
        ),
        (allow("s3:GetObject", "*", Principal="*"), {}, "Principal"),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, {}, "Resource/NotResource"),
        ({"Effect": "allow", "Action": "s3:GetObject", "Resource": "*"}, {}, "Effect"),
        (allow("s3:GetObject", "*", {"NumericLessThan": {"n": "ten"}}), {"n": "1"}, "numeric"),
    ],
)
def test_refuses_loudly(statement, context, message):
    """What it does not know raises: a silent allow (or a silent deny) would be the worst answer."""
    with pytest.raises(PolicyError, match=message):
        evaluate([policy(statement)], "s3:GetObject", "arn:aws:s3:::b/k", context)


def test_an_unsupported_statement_raises_even_after_an_allow():
    with pytest.raises(PolicyError):
        evaluate(
            [policy(allow("s3:*", "*"), allow("s3:*", "*", {"DateLessThan": {"aws:CurrentTime": "x"}}))],
            "s3:GetObject",
            "arn:aws:s3:::b/k",
        )
