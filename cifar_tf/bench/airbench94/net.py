"""airbench94's hyperparameters, data loader and network, as the original writes them (see the package)."""
import functools
import os
import pickle
import types
from math import ceil

import numpy as np

#############################################
#            Setup/Hyperparameters          #
#############################################

# We express the main training hyperparameters (batch size, learning rate, momentum, and weight decay)
# in decoupled form, so that each one can be tuned independently. This accomplishes the following:
# * Assuming time-constant gradients, the average step size is decoupled from everything but the lr.
# * The size of the weight decay update is decoupled from everything but the wd.
# In constrast, normally when we increase the (Nesterov) momentum, this also scales up the step size
# proportionally to 1 + 1 / (1 - momentum), meaning we cannot change momentum without having to re-tune
# the learning rate. Similarly, normally when we increase the learning rate this also increases the size
# of the weight decay, requiring a proportional decrease in the wd to maintain the same decay strength.
#
# The practical impact is that hyperparameter tuning is faster, since this parametrization allows each
# one to be tuned independently. See https://myrtle.ai/learn/how-to-train-your-resnet-5-hyperparameters/.

hyp = {
    'opt': {
        'train_epochs': 9.9,
        'batch_size': 1024,
        'lr': 11.5,                 # learning rate per 1024 examples
        'momentum': 0.85,
        'weight_decay': 0.0153,     # weight decay per 1024 examples (decoupled from learning rate)
        'bias_scaler': 64.0,        # scales up learning rate (but not weight decay) for BatchNorm biases
        'label_smoothing': 0.2,
        'whiten_bias_epochs': 3,    # how many epochs to train the whitening layer bias before freezing
    },
    'aug': {
        'flip': True,
        'translate': 2,
    },
    'net': {
        'widths': {
            'block1': 64,
            'block2': 256,
            'block3': 256,
        },
        'batchnorm_momentum': 0.6,
        'scaling_factor': 1/9,
        'tta_level': 2,         # the level of test-time augmentation: 0=none, 1=mirror, 2=mirror+translate
    },
}

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

_DTYPES = {"half": "float16", "float16": "float16", "fp16": "float16",
           "bfloat16": "bfloat16", "bf16": "bfloat16", "float32": "float32", "fp32": "float32"}


#############################################
#          Dataset (no torchvision)         #
#############################################

def _batches_folder(data_dir):
    """`DIR/cifar-10-batches-py`, or DIR itself when it already is that folder."""
    inner = os.path.join(data_dir, "cifar-10-batches-py")
    if os.path.isfile(os.path.join(inner, "test_batch")):
        return inner
    if os.path.isfile(os.path.join(data_dir, "test_batch")):
        return data_dir
    raise FileNotFoundError(f"no CIFAR-10 python layout (cifar-10-batches-py/test_batch) under {data_dir}")


def load_cifar10_arrays(data_dir, train=True, limit=None):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from the official pickles.

    The pickle rows are already channel-major (1024 R, 1024 G, 1024 B), so unlike torchvision's
    NHWC `dset.data` no permute is needed; the loader stores them channels_last as airbench does."""
    folder = _batches_folder(data_dir)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    images, labels = [], []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    images, labels = np.concatenate(images), np.concatenate(labels)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


#############################################
#     The torch side, built on first use    #
#############################################

@functools.lru_cache(maxsize=None)
def _airbench():
    """Airbench's classes and functions. Built inside a function so that torch is imported only
    when a run is asked for (nn.Module subclasses need torch at definition time)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    #############################################
    #                DataLoader                 #
    #############################################

    def batch_flip_lr(inputs):
        flip_mask = (torch.rand(len(inputs), device=inputs.device) < 0.5).view(-1, 1, 1, 1)
        return torch.where(flip_mask, inputs.flip(-1), inputs)

    def batch_crop(images, crop_size):
        r = (images.size(-1) - crop_size)//2
        shifts = torch.randint(-r, r+1, size=(len(images), 2), device=images.device)
        images_out = torch.empty((len(images), 3, crop_size, crop_size), device=images.device, dtype=images.dtype)
        # The two cropping methods in this if-else produce equivalent results, but the second is faster for r > 2.
        if r <= 2:
            for sy in range(-r, r+1):
                for sx in range(-r, r+1):
                    mask = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
                    images_out[mask] = images[mask, :, r+sy:r+sy+crop_size, r+sx:r+sx+crop_size]
        else:
            images_tmp = torch.empty((len(images), 3, crop_size, crop_size+2*r), device=images.device, dtype=images.dtype)
            for s in range(-r, r+1):
                mask = (shifts[:, 0] == s)
                images_tmp[mask] = images[mask, :, r+s:r+s+crop_size, :]
            for s in range(-r, r+1):
                mask = (shifts[:, 1] == s)
                images_out[mask] = images_tmp[mask, :, :, r+s:r+s+crop_size]
        return images_out

    class CifarLoader:
        """airbench's CifarLoader, fed from arrays already read (the original torch.load()s a cached
        copy onto the GPU at the start of each run; here the upload happens at the same point)."""

        def __init__(self, arrays, train=True, batch_size=500, aug=None, drop_last=None, shuffle=None,
                     device='cuda', dtype=torch.half):
            images, labels = arrays
            self.images = torch.from_numpy(images).to(device)
            self.labels = torch.from_numpy(labels).to(device)
            # It's faster to load+process uint8 data than to load preprocessed fp16 data
            self.images = (self.images.to(dtype) / 255).to(memory_format=torch.channels_last)

            self.mean = torch.tensor(CIFAR_MEAN, dtype=dtype, device=device).view(-1, 1, 1)
            self.std = torch.tensor(CIFAR_STD, dtype=dtype, device=device).view(-1, 1, 1)
            self.proc_images = {} # Saved results of image processing to be done on the first epoch
            self.epoch = 0

            self.aug = aug or {}
            for k in self.aug.keys():
                assert k in ['flip', 'translate'], 'Unrecognized key: %s' % k

            self.batch_size = batch_size
            self.drop_last = train if drop_last is None else drop_last
            self.shuffle = train if shuffle is None else shuffle

        def normalize(self, images):
            # torchvision's T.Normalize on a tensor: clone, then in-place sub_/div_ in the images' dtype
            return images.clone().sub_(self.mean).div_(self.std)

        def __len__(self):
            return len(self.images)//self.batch_size if self.drop_last else ceil(len(self.images)/self.batch_size)

        def __iter__(self):

            if self.epoch == 0:
                images = self.proc_images['norm'] = self.normalize(self.images)
                # Pre-flip images in order to do every-other epoch flipping scheme
                if self.aug.get('flip', False):
                    images = self.proc_images['flip'] = batch_flip_lr(images)
                # Pre-pad images to save time when doing random translation
                pad = self.aug.get('translate', 0)
                if pad > 0:
                    self.proc_images['pad'] = F.pad(images, (pad,)*4, 'reflect')

            if self.aug.get('translate', 0) > 0:
                images = batch_crop(self.proc_images['pad'], self.images.shape[-2])
            elif self.aug.get('flip', False):
                images = self.proc_images['flip']
            else:
                images = self.proc_images['norm']
            # Flip all images together every other epoch. This increases diversity relative to random flipping
            if self.aug.get('flip', False):
                if self.epoch % 2 == 1:
                    images = images.flip(-1)

            self.epoch += 1

            indices = (torch.randperm if self.shuffle else torch.arange)(len(images), device=images.device)
            for i in range(len(self)):
                idxs = indices[i*self.batch_size:(i+1)*self.batch_size]
                yield (images[idxs], self.labels[idxs])

    #############################################
    #            Network Components             #
    #############################################

    class Flatten(nn.Module):
        def forward(self, x):
            return x.view(x.size(0), -1)

    class Mul(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale
        def forward(self, x):
            return x * self.scale

    class BatchNorm(nn.BatchNorm2d):
        def __init__(self, num_features, momentum, eps=1e-12,
                     weight=False, bias=True):
            super().__init__(num_features, eps=eps, momentum=1-momentum)
            self.weight.requires_grad = weight
            self.bias.requires_grad = bias
            # Note that PyTorch already initializes the weights to one and bias to zero

    class Conv(nn.Conv2d):
        def __init__(self, in_channels, out_channels, kernel_size=3, padding='same', bias=False):
            super().__init__(in_channels, out_channels, kernel_size=kernel_size, padding=padding, bias=bias)

        def reset_parameters(self):
            super().reset_parameters()
            if self.bias is not None:
                self.bias.data.zero_()
            w = self.weight.data
            torch.nn.init.dirac_(w[:w.size(1)])

    class ConvGroup(nn.Module):
        def __init__(self, channels_in, channels_out, batchnorm_momentum):
            super().__init__()
            self.conv1 = Conv(channels_in,  channels_out)
            self.pool = nn.MaxPool2d(2)
            self.norm1 = BatchNorm(channels_out, batchnorm_momentum)
            self.conv2 = Conv(channels_out, channels_out)
            self.norm2 = BatchNorm(channels_out, batchnorm_momentum)
            self.activ = nn.GELU()

        def forward(self, x):
            x = self.conv1(x)
            x = self.pool(x)
            x = self.norm1(x)
            x = self.activ(x)
            x = self.conv2(x)
            x = self.norm2(x)
            x = self.activ(x)
            return x

    #############################################
    #            Network Definition             #
    #############################################

    def make_net(device='cuda', dtype=torch.half):
        widths = hyp['net']['widths']
        batchnorm_momentum = hyp['net']['batchnorm_momentum']
        whiten_kernel_size = 2
        whiten_width = 2 * 3 * whiten_kernel_size**2
        net = nn.Sequential(
            Conv(3, whiten_width, whiten_kernel_size, padding=0, bias=True),
            nn.GELU(),
            ConvGroup(whiten_width,     widths['block1'], batchnorm_momentum),
            ConvGroup(widths['block1'], widths['block2'], batchnorm_momentum),
            ConvGroup(widths['block2'], widths['block3'], batchnorm_momentum),
            nn.MaxPool2d(3),
            Flatten(),
            nn.Linear(widths['block3'], 10, bias=False),
            Mul(hyp['net']['scaling_factor']),
        )
        net[0].weight.requires_grad = False
        # The original's net.half().cuda(): pure low-precision weights, no autocast, no master copy
        net = net.to(device=device, dtype=dtype)
        net = net.to(memory_format=torch.channels_last)
        for mod in net.modules():
            if isinstance(mod, BatchNorm):
                mod.float()
        return net

    def reinit_net(model):
        for m in model.modules():
            if type(m) in (Conv, BatchNorm, nn.Linear):
                m.reset_parameters()

    #############################################
    #       Whitening Conv Initialization       #
    #############################################

    def get_patches(x, patch_shape):
        c, (h, w) = x.shape[1], patch_shape
        return x.unfold(2,h,1).unfold(3,w,1).transpose(1,3).reshape(-1,c,h,w).float()

    def get_whitening_parameters(patches):
        n,c,h,w = patches.shape
        patches_flat = patches.view(n, -1)
        est_patch_covariance = (patches_flat.T @ patches_flat) / n
        eigenvalues, eigenvectors = torch.linalg.eigh(est_patch_covariance, UPLO='U')
        return eigenvalues.flip(0).view(-1, 1, 1, 1), eigenvectors.T.reshape(c*h*w,c,h,w).flip(0)

    def init_whitening_conv(layer, train_set, eps=5e-4):
        patches = get_patches(train_set, patch_shape=layer.weight.data.shape[2:])
        eigenvalues, eigenvectors = get_whitening_parameters(patches)
        eigenvectors_scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
        layer.weight.data[:] = torch.cat((eigenvectors_scaled, -eigenvectors_scaled))

    ############################################
    #                Lookahead                 #
    ############################################

    class LookaheadState:

        def __init__(self, net):
            self.net_ema = {k: v.clone() for k, v in net.state_dict().items()}

        def update(self, net, decay):
            for ema_param, net_param in zip(self.net_ema.values(), net.state_dict().values()):
                # (torch.bfloat16 added: the original's set is (half, float) as it only runs in fp16)
                if net_param.dtype in (torch.half, torch.bfloat16, torch.float):
                    ema_param.lerp_(net_param, 1-decay)
                    net_param.copy_(ema_param)

    ############################################
    #               Evaluation                 #
    ############################################

    def infer(model, loader, tta_level=0):

        # Test-time augmentation strategy (for tta_level=2):
        # 1. Flip/mirror the image left-to-right (50% of the time).
        # 2. Translate the image by one pixel either up-and-left or down-and-right (50% of the time,
        #    i.e. both happen 25% of the time).
        #
        # This creates 6 views per image (left/right times the two translations and no-translation),
        # which we evaluate and then weight according to the given probabilities.

        def infer_basic(inputs, net):
            return net(inputs).clone()

        def infer_mirror(inputs, net):
            return 0.5 * net(inputs) + 0.5 * net(inputs.flip(-1))

        def infer_mirror_translate(inputs, net):
            logits = infer_mirror(inputs, net)
            pad = 1
            padded_inputs = F.pad(inputs, (pad,)*4, 'reflect')
            inputs_translate_list = [
                padded_inputs[:, :, 0:32, 0:32],
                padded_inputs[:, :, 2:34, 2:34],
            ]
            logits_translate_list = [infer_mirror(inputs_translate, net)
                                     for inputs_translate in inputs_translate_list]
            logits_translate = torch.stack(logits_translate_list).mean(0)
            return 0.5 * logits + 0.5 * logits_translate

        model.eval()
        test_images = loader.normalize(loader.images)
        infer_fn = [infer_basic, infer_mirror, infer_mirror_translate][tta_level]
        with torch.no_grad():
            return torch.cat([infer_fn(inputs, model) for inputs in test_images.split(2000)])

    def evaluate(model, loader, tta_level=0):
        logits = infer(model, loader, tta_level)
        return (logits.argmax(1) == loader.labels).float().mean().item()

    return types.SimpleNamespace(**locals())


