// Assembly-wide settings for the syscall edge.
using System.Runtime.CompilerServices;

// Every native signature is blittable, so the runtime never marshals: a P/Invoke is a plain call.
[assembly: DisableRuntimeMarshalling]
