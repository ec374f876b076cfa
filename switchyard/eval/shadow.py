"""What a router in shadow mode would have done, read back from the request log: before switching it on.

Shadow mode serves every request from the static member and logs the router's own choice (``decision.shadow``).
This report counts those choices, how often they agree with what was served, and what the traffic would have
cost had the router chosen. The projection prices each request's logged tokens at the chosen member's prices, so it
assumes the other model would have answered at the same length. Feedback (``POST /v1/feedback``), where given, is
averaged by the router's choice: the answers the router would have sent elsewhere should not be the best-rated.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from switchyard.accounting.cost import cost_of
from switchyard.accounting.pricing import Price
from switchyard.storage.feedback import Feedback
from switchyard.types.chat import Usage
from switchyard.types.logs import RequestLog


@dataclass
class ShadowReport:
    group: str
    requests: int = 0
    served: Counter[str] = field(default_factory=Counter)
    would: Counter[str] = field(default_factory=Counter)
    agreed: int = 0
    spend_usd: float = 0.0
    projected_usd: float = 0.0
    # Requests left out of both spend sums: no cost was logged for the served answer, or the chosen member's price
    # or a token count is missing.
    unpriced: int = 0
    feedback: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def saving(self) -> float | None:
        """The projected change in spend as a fraction of actual spend (negative: cheaper), over priced requests."""
        if not self.spend_usd:
            return None
        return self.projected_usd / self.spend_usd - 1.0


def shadow_report(
    records: Iterable[RequestLog], feedback: Iterable[Feedback], group: str, prices: Mapping[str, Price]
) -> ShadowReport:
    """``prices``: each member's price (its first priced deployment); members missing here cannot be projected."""
    scores: dict[str, list[float]] = defaultdict(list)
    for item in feedback:
        scores[item.request_id].append(item.score)
    report = ShadowReport(group)
    for record in records:
        if record.model_group != group or not record.decision or record.status >= 400:
            continue
        decision = json.loads(record.decision)
        would = decision.get("shadow")
        if decision.get("reason") != "shadow" or not would:
            continue
        served = str(decision.get("chosen"))
        report.requests += 1
        report.served[served] += 1
        report.would[would] += 1
        report.agreed += would == served
        spent = record.cost_usd
        price = prices.get(would)
        if spent is None:
            report.unpriced += 1  # the served answer has no cost: the two sums would cover different requests
        elif would == served:
            report.spend_usd += spent
            report.projected_usd += spent
        elif price is None or record.prompt_tokens is None or record.completion_tokens is None:
            report.unpriced += 1
        else:
            report.spend_usd += spent
            usage = Usage(
                record.prompt_tokens, record.completion_tokens, record.prompt_tokens + record.completion_tokens
            )
            report.projected_usd += cost_of(usage, price).total
        given = scores.get(record.request_id)
        if given:
            report.feedback[would].append(sum(given) / len(given))
    return report


def render(report: ShadowReport) -> str:
    if not report.requests:
        return f"No shadow-mode decisions of {report.group!r} in the request log."
    n = report.requests
    served = ", ".join(f"{m} {c}" for m, c in report.served.most_common())
    would = ", ".join(f"{m} {c} ({c / n:.1%})" for m, c in report.would.most_common())
    lines = [
        f"Shadow mode of {report.group!r}: {n} answered requests, served by {served}.",
        f"The router would have chosen: {would}; it agrees with what was served on {report.agreed / n:.1%}.",
    ]
    saving = report.saving
    priced = n - report.unpriced
    if saving is not None:
        lines.append(
            f"Spend as served: ${report.spend_usd:.6f}. Had the router chosen: ${report.projected_usd:.6f} "
            f"({saving:+.1%}), pricing each request's logged tokens at the chosen member's prices"
            + (f" (over the {priced} of {n} requests that could be priced)." if report.unpriced else ".")
        )
    else:
        lines.append("No spend projection: no request has both a logged cost and a price for the router's choice.")
    if report.unpriced:
        lines.append(
            f"{report.unpriced} requests had no logged cost, or no price or token count for the member the router "
            "chose (pass --config with the gateway's config for the members' prices)."
        )
    for member, given in sorted(report.feedback.items()):
        lines.append(
            f"Feedback on requests the router would send to {member}: {len(given)}, mean {sum(given) / len(given):.3f}."
        )
    return "\n".join(lines)
