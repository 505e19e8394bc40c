"""Class mode: who is who, who may do what, the teacher, a challenge, the leaderboard, lessons.

Thirty students and a teacher share one server. Each browser holds a random seat token (a
cookie); the server keeps only its hash, mapped to the name the student typed (`seats`). Every run
records its owner, and only the owner or the teacher may stop, rename or delete it (`roles`, which
every page's action goes through). The teacher unlocks their rights with a code (`teacher`), sets a
challenge that limits what students may change (`challenge`, `budget`), watches the queue
(`queue`), ranks the class (`leaderboard`) and archives a lesson's runs (`lessons`). Links carry a
configuration in the address (`links`). `room.Classroom` puts these together for the pages.

Everything lives in `<runs folder>/.class/`, written atomically under a file lock, so that every
session of a server, and several servers over one folder, see one class. Without class mode
(`settings.class_mode()`), the app is for one user and nothing here restricts anything, except
that the shipped demo run stays read-only.
"""
