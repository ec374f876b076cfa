"""Token and cost accounting: the pricing table (data), cost arithmetic, spend."""
