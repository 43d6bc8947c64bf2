"""What every training loop here shares: stopping a diverged run, and the exponential moving average."""
from __future__ import annotations

import torch

EXPLODED = 1e6  # a loss above this in magnitude stops the run as diverged


def check_loss(loss: torch.Tensor, what: str, step: int) -> float:
    """The loss as a number; FloatingPointError naming ``what`` and the step when it is NaN or explodes."""
    value = loss.item()
    if not abs(value) < EXPLODED:  # also catches NaN
        raise FloatingPointError(f"the {what} loss is {value} at step {step}: the run diverged "
                                 "(try another seed or a lower learning rate)")
    return value


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Average ``model``'s weights into ``ema``; buffers (e.g. batch-norm statistics) are copied."""
    for averaged, current in zip(ema.state_dict().values(), model.state_dict().values()):
        if averaged.dtype.is_floating_point:
            averaged.lerp_(current, 1 - decay)  # θ̄ ← decay θ̄ + (1 − decay) θ
        else:
            averaged.copy_(current)


def ema_decay(step: int, decay: float) -> float:
    """The decay at ``step``, warmed up so that early averages are not dominated by the initial weights."""
    return min(decay, (1 + step) / (10 + step))
