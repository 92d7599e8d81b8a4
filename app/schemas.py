"""marshmallow schemas of the API's requests and responses (they also make the OpenAPI document)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    mode = fields.String(required=True, metadata={"description": "paper or live"})
    version = fields.String(required=True)


class CheckSchema(Schema):
    ok = fields.Boolean(required=True)
    required = fields.Boolean(required=True,
                              metadata={"description": "whether /ready fails when this is down"})
    detail = fields.String(required=True)
    latency_ms = fields.Float(allow_none=True)
    info = fields.Dict(keys=fields.String())


class ReadySchema(Schema):
    ready = fields.Boolean(required=True)
    down = fields.List(fields.String(), required=True,
                       metadata={"description": "required services that are down"})
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema), required=True)


class UnsignedLegSchema(Schema):
    leg = fields.String(required=True)
    tx_id = fields.String(required=True)
    tx = fields.String(required=True, metadata={"description": "the transaction, CBOR hex"})


class UnsignedLegsSchema(Schema):
    position = fields.String(required=True)
    legs = fields.List(fields.Nested(UnsignedLegSchema), required=True)


class WitnessSetSchema(Schema):
    leg = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$"))
    witness_set = fields.String(required=True, validate=validate.Length(min=2, max=100_000),
                                metadata={"description": "CIP-30 signTx's answer, CBOR hex"})


class WitnessTakenSchema(Schema):
    position = fields.String(required=True)
    leg = fields.String(required=True)
    tx_id = fields.String(required=True)


class PositionListSchema(Schema):
    positions = fields.List(fields.Dict(keys=fields.String()), required=True,
                            metadata={"description": "your positions, newest first (the "
                                                     "fields of `dhl positions list`)"})


class AlertQuerySchema(Schema):
    position = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,100}$"))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class AlertSchema(Schema):
    id = fields.String(required=True)
    user = fields.String(required=True)
    position = fields.String(allow_none=True)
    kind = fields.String(required=True)
    level = fields.String(required=True, validate=validate.OneOf(("info", "warning",
                                                                   "critical")))
    message = fields.String(required=True)
    facts = fields.Dict(keys=fields.String())
    at_ms = fields.Integer(required=True)


class AlertListSchema(Schema):
    alerts = fields.List(fields.Nested(AlertSchema), required=True)


_DECIMAL = r"^[0-9]{1,15}(\.[0-9]{1,18})?$"


class OrderSchema(Schema):
    side = fields.String(required=True, validate=validate.OneOf(("long", "short")))
    asset = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$", error="policy id + asset name, hex"),
        metadata={"description": "the token (policy id + asset name, hex)"})
    collateral = fields.String(load_default="ADA", validate=validate.OneOf(("ADA", "token")),
                               metadata={"description": "what you post: ADA or the token"})
    amount = fields.String(required=True, validate=validate.Regexp(
        _DECIMAL, error="a positive decimal in display units, as a string"),
        metadata={"description": "display units of the collateral ('100' = 100 ADA)"})
    leverage = fields.String(required=True, validate=validate.Regexp(
        _DECIMAL, error="a decimal above 1, as a string"))
    venue = fields.String(load_default=None, allow_none=True,
                          validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}$"),
                          metadata={"description": "a venue, or auto (default)"})
    mode = fields.String(load_default="paper", validate=validate.OneOf(("paper", "live")),
                         metadata={"description": "paper, or live: signed, sent and confirmed "
                                                  "on chain (docs/live.md)"})
    guards = fields.Nested(lambda: GuardsSchema(), metadata={
        "description": "set once the position is open, as PUT /positions/{id}/guards does "
                       "(a stop the price has crossed by then is refused, with an alert)"})
    signing = fields.String(load_default="managed",
                            validate=validate.OneOf(("managed", "wallet")),
                            metadata={"description": "live: your managed account signs, or "
                                                     "your wallet (signed in with it) signs "
                                                     "each leg: GET .../unsigned, POST "
                                                     ".../witnesses"})


class OrderAnswerSchema(Schema):
    position = fields.String(required=True)
    state = fields.String(required=True)
    plan = fields.Dict(keys=fields.String(), required=True)


class CloseSchema(Schema):
    fraction = fields.String(load_default="1", validate=validate.Regexp(
        _DECIMAL, error="a fraction in (0, 1], as a string"),
        metadata={"description": "the share to close, (0, 1]; default all"})


class CollateralSchema(Schema):
    amount = fields.String(required=True, validate=validate.Regexp(
        _DECIMAL, error="a positive decimal in display units, as a string"))


class TakeProfitSchema(Schema):
    price = fields.String(required=True, validate=validate.Regexp(_DECIMAL))
    fraction = fields.String(load_default="1", validate=validate.Regexp(_DECIMAL))


class GuardsSchema(Schema):
    take_profit = fields.List(fields.Nested(TakeProfitSchema), load_default=list,
                              validate=validate.Length(max=10))
    stop_loss = fields.String(validate=validate.Regexp(_DECIMAL))
    trailing_pct = fields.String(validate=validate.Regexp(_DECIMAL))
    deleverage_below = fields.String(validate=validate.Regexp(_DECIMAL))
    deleverage_to = fields.String(validate=validate.Regexp(_DECIMAL))
    alert_below = fields.String(validate=validate.Regexp(_DECIMAL))
    margin_call_below = fields.String(validate=validate.Regexp(_DECIMAL))
    margin_call_to = fields.String(validate=validate.Regexp(_DECIMAL))
    max_borrow_apr = fields.String(validate=validate.Regexp(_DECIMAL))
    move_when_cheaper = fields.Boolean(load_default=False)


class KillSwitchSchema(Schema):
    state = fields.String(required=True, validate=validate.OneOf(("on", "off")))


class ChallengeAskSchema(Schema):
    address = fields.String(required=True, validate=validate.Length(min=10, max=200),
                            metadata={"description": "the wallet's address (bech32)"})


class ChallengeSchema(Schema):
    nonce = fields.String(required=True)
    challenge = fields.String(required=True, metadata={"description": "the text to sign"})
    expires_ms = fields.Integer(required=True)


class SignedSchema(Schema):
    nonce = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{32}$"))
    signature = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9a-fA-F]{2,8000}$"), metadata={"description": "signData's signature (hex)"})
    key = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[0-9a-fA-F]{2,400}$"), metadata={"description": "signData's COSE key (hex)"})


class SessionSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Authorization: Bearer"})
    user = fields.String(required=True)
    expires_ms = fields.Integer(required=True)


class QuoteAskSchema(Schema):
    side = fields.String(required=True, validate=validate.OneOf(("long", "short")))
    asset = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$", error="policy id + asset name, hex"))
    size = fields.String(required=True, validate=validate.Regexp(
        _DECIMAL, error="the notional in ADA, a positive decimal"))
    leverage = fields.String(required=True, validate=validate.Regexp(_DECIMAL))
    days = fields.String(load_default="30", validate=validate.Regexp(_DECIMAL))
    price = fields.String(load_default=None, validate=validate.Regexp(_DECIMAL),
                          metadata={"description": "ADA per whole token (a short needs it)"})


class WebhookAskSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=8, max=2048),
                        metadata={"description": "where your alerts are POSTed (http or "
                                                 "https; not a private or loopback host)"})


class WebhookSchema(Schema):
    url = fields.String(required=True)
    secret = fields.String(required=True, metadata={
        "description": "shown this once: the HMAC-SHA256 key of each delivery's signature "
                       "(docs/guards.md)"})


class WebhookRemovedSchema(Schema):
    removed = fields.Boolean(required=True)
