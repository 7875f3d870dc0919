"""The role tagger: roles by ear, a level-free descriptor and a small MLP."""
