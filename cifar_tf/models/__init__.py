"""The networks: a registry of architectures by name (`registry`), the ones written here
(`builders`) and the keras.applications backbones with their pretrained weights (`applications`)."""
