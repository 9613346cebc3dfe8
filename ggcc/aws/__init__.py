"""AWS Lambda: the function that runs thunks (function.py), its protocol
(protocol.py), its packaging and deployment (package.py, deploy.py).

The engine that invokes it lives with the other engines
(ggcc/engines/aws_lambda.py). Only the function's modules are imported on
Lambda; nothing here is on the launcher's path.
"""
