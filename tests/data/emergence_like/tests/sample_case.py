def sample():
    return None
