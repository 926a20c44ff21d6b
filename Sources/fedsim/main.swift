print("fedsim")
