"""The Remote Execution API (REAPI v2): thunks as Actions for the build
farms people already run (Buildbarn, BuildBuddy, NativeLink, BuildGrid).

A thunk already carries its toolchain, libraries and loader, so its Action
needs nothing from the worker but a Linux kernel: no image, no compiler at
the same path. action.py turns a thunk into an Action (pure, no network).

The protocol messages come from buildgrid-common's generated stubs (the
optional extra ``ggcc[reapi]``); nothing here is imported unless an REAPI
setting is used, so the default install stays small.
"""
