// Placeholder: the position-tracking JSON reader lands here.
