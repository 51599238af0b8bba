"""Route 3: formulas compiled to torch and compared with torch autograd (so far: compile.py and
graph_forward.py; torch is imported only inside these modules' functions)."""
