"""`class code`: the teacher code of a class, for a teacher who missed the server's first lines."""
from .common import command, runs_flag


def cmd_class_code(args):
    from ..classroom.room import Classroom

    print(Classroom(args.runs_dir).code_line())


def add_commands(commands):
    group = commands.add_parser("class", help="class mode: the teacher code")
    actions = group.add_subparsers(title="class commands", metavar="ACTION")
    code = command(actions, "code", cmd_class_code,
                   "print the teacher code (made up and kept in the runs folder when CIFAR_TF_TEACHER_CODE is unset)")
    runs_flag(code)
