-- A `.lua` module: the extension is implied.
return { name = "legacy" }
