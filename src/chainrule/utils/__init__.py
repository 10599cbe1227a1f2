"""PyTorch's torch.utils: data (datasets, samplers, the DataLoader) and tensorboard (SummaryWriter)."""
