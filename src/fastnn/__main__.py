"""python -m fastnn: print the configuration (instruction set, threads, OpenMP runtime, backend)."""
import fastnn

fastnn.show_config()
print("\nTrain a network on real data: python -m fastnn.demo")
