"""Judgements on a finished run folder that every command shares: whether the run is valid
evidence (`verdict`), whether the generator was saturated (`saturation`), and whether the books
kept every acknowledged write (`durability`)."""
