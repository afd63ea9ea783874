"""Batch arithmetic with numpy: counting served traffic into the drift reference's bins."""
