// Placeholder: the libjq wrapper lands here.
