"""What a model is: its preprocessing, heads, network and the model folder that stores them with the weights."""
