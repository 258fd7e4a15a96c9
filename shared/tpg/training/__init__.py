"""The pure training domain: user data, analysis, the exercise catalog, the program model, the
rules engine and the validation rules. No I/O; imports nothing of the layer but `tpg.platform.text`.
"""
