"""Homework: the answer language (language.py, answer.lark). Problems, grading and exports are to come (issue 5)."""
