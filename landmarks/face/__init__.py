"""What a face's points tell: head pose, alignment, eye and mouth openness, drawing and output records."""
