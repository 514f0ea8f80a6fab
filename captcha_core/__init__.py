"""Transport-free core shared by the trainer and the server.

Nothing here imports grpc or TensorFlow: colours, colour transforms and the one
function that prepares a picture for a model.
"""
