-- A .lua module: loaded once per VM, so its state is shared by requirers.
local counter = { loads = (_G.counterLoads or 0) + 1, value = 0 }
return counter
