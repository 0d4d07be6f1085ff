"""One worker spread over several processes (GPUs), as `accelerate launch` or
`torchrun` starts it for a multi-GPU or multi-node run.

Rank 0 alone talks to the queue: it claims, heartbeats, writes metrics and the
outcome. Every decision the ranks must agree on (which job, whether to stop
after this step, whether to keep polling) is taken on rank 0 and broadcast, so
no rank leaves a collective operation the others are waiting in. With one
process every call here is a plain pass-through.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")


class Ranks:
    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self._ready = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def _init(self) -> None:
        if not self._ready:
            import torch
            from accelerate import PartialState

            # The same process group TRL's Trainer will use (accelerate's state is a singleton).
            PartialState(cpu=not torch.cuda.is_available())
            self._ready = True

    def share(self, value: T) -> T:
        """Rank 0's `value`, on every rank."""
        if self.world == 1:
            return value
        from accelerate.utils import broadcast_object_list

        self._init()
        box = [value]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any rank."""
        if self.world == 1:
            return flag
        from accelerate.utils import gather_object

        self._init()
        return any(gather_object([flag]))
