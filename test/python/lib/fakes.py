"""Tensor stand-ins for testing sparse_attn's logic without PyTorch."""

import collections

Device = collections.namedtuple("Device", "type index")

_next_address = [0x7F0000000000]


class FakeTensor:
    """What sparse_attn reads of a tensor: shape, stride(), dtype, device,
    data_ptr(). Dtypes are their torch names ("torch.bfloat16"). Each tensor
    gets its own address range unless `data` is given."""

    def __init__(self, shape, dtype="torch.float32", strides=None, device=("cuda", 0), data=None):
        self.shape = tuple(shape)
        if strides is None:  # contiguous
            strides, step = [], 1
            for size in reversed(self.shape):
                strides.insert(0, step)
                step *= max(size, 1)
        self._strides = tuple(strides)
        self.dtype = dtype
        self.device = Device(*device)
        if data is None:
            data = _next_address[0]
            _next_address[0] += 1 << 32
        self._data = data

    def stride(self):
        return self._strides

    def data_ptr(self):
        return self._data

    def transpose12(self):
        """The [B, N, H, D] view of a [B, H, N, D] tensor, like .transpose(1, 2)."""
        shape, strides = list(self.shape), list(self._strides)
        shape[1], shape[2] = shape[2], shape[1]
        strides[1], strides[2] = strides[2], strides[1]
        return FakeTensor(shape, self.dtype, strides, tuple(self.device), self._data)


def bnhd(batch, seq, heads, dim, dtype="torch.bfloat16"):
    """A contiguous [B, N, H, D] tensor."""
    return FakeTensor((batch, seq, heads, dim), dtype)


class FakeBlockMask:
    """FlexAttention's BlockMask as sparse_attn reads it."""

    def __init__(
        self,
        kv_num_blocks,
        kv_indices,
        full_kv_num_blocks=None,
        full_kv_indices=None,
        block_size=(128, 128),
    ):
        self.kv_num_blocks = kv_num_blocks
        self.kv_indices = kv_indices
        self.full_kv_num_blocks = full_kv_num_blocks
        self.full_kv_indices = full_kv_indices
        self.BLOCK_SIZE = block_size
